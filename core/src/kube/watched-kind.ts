/** A kind an informer lists and watches: where, and how to stamp list items (real list responses omit it per item). */
export interface WatchedKind {
  readonly apiVersion: string;
  readonly kind: string;
  /** Cluster-wide list/watch path, e.g. `/api/v1/pods`. */
  readonly path: string;
  /** Only objects matching this field selector (e.g. `spec.nodeName=node1`); none by default. */
  readonly fieldSelector?: string;
  /** Only objects matching this label selector (e.g. `gateway.istio.io/managed=istio.io-mesh-controller`); none by default. */
  readonly labelSelector?: string;
}

/** `watchedKind('v1', 'Pod', 'pods')` → `/api/v1/pods`; a grouped version → `/apis/<group>/<version>/<plural>`. */
export function watchedKind(apiVersion: string, kind: string, plural: string, fieldSelector?: string, labelSelector?: string): WatchedKind {
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return {
    apiVersion,
    kind,
    path: `${prefix}/${plural}`,
    ...(fieldSelector === undefined ? {} : { fieldSelector }),
    ...(labelSelector === undefined ? {} : { labelSelector }),
  };
}
