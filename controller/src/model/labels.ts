/** Labels and annotations with Istio's names and meanings (reference istio-ambient.md §3). */

export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const DATAPLANE_MODE_AMBIENT = 'ambient';
export const DATAPLANE_MODE_NONE = 'none';
/** Set by the sidecar injector; such pods have their own proxy and are never captured by ztunnel. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';

export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
export const USE_WAYPOINT_NAMESPACE_LABEL = 'istio.io/use-waypoint-namespace';
/** Reserved `istio.io/use-waypoint` value: opt out of a waypoint set on the namespace. */
export const USE_WAYPOINT_NONE = 'none';
/** On the waypoint Gateway: which traffic it takes — `service` (default), `workload`, `all` or `none`. */
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';
/** Set on the pods of a Gateway's deployment; a waypoint never uses itself as its waypoint. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

export const CANONICAL_NAME_LABELS = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'] as const;
export const CANONICAL_REVISION_LABELS = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'] as const;
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** The Kubernetes `matchLabels` rule: every selector label is present with the same value (empty selects all). */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) return false;
  }
  return true;
}

/** First non-empty value among `keys`, in order. */
export function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = labels[k];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}
