/** A kind the controller watches: where to list/watch it, and how to stamp list items. */
export interface WatchedKind {
  readonly apiVersion: string;
  readonly kind: string;
  /** Cluster-wide list/watch path. */
  readonly path: string;
  /** Only objects matching this field selector (e.g. one ConfigMap name in every namespace). */
  readonly fieldSelector?: string;
}

function kind(apiVersion: string, kindName: string, plural: string): WatchedKind {
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return { apiVersion, kind: kindName, path: `${prefix}/${plural}` };
}

/** Everything the model is computed from (DESIGN §6). */
export const WATCHED_KINDS: readonly WatchedKind[] = [
  kind('v1', 'Namespace', 'namespaces'),
  kind('v1', 'Pod', 'pods'),
  kind('v1', 'Service', 'services'),
  kind('v1', 'ServiceAccount', 'serviceaccounts'),
  kind('v1', 'Node', 'nodes'),
  kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices'),
  kind('security.istio.io/v1', 'AuthorizationPolicy', 'authorizationpolicies'),
  kind('security.istio.io/v1', 'PeerAuthentication', 'peerauthentications'),
  kind('gateway.networking.k8s.io/v1', 'Gateway', 'gateways'),
  kind('gateway.networking.k8s.io/v1', 'HTTPRoute', 'httproutes'),
  // Only our own root-cert ConfigMaps, to put them back when someone edits or deletes them.
  { ...kind('v1', 'ConfigMap', 'configmaps'), fieldSelector: 'metadata.name=ambit-ca-root-cert' },
];
