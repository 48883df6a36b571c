import { asRecord } from '@ambit/core';

/**
 * The Gateway objects `ambitctl waypoint` writes and reads, and what it shows of them — pure functions, so the
 * objects produced are tested without an API server. The shape is istioctl's (`istioctl/pkg/waypoint`): class
 * `istio-waypoint`, one listener `mesh` on 15008 speaking HBONE, `istio.io/waypoint-for` only when the user chose.
 */

export const WAYPOINT_CLASS = 'istio-waypoint';
export const DEFAULT_WAYPOINT_NAME = 'waypoint';
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const REVISION_LABEL = 'istio.io/rev';
export const TRAFFIC_TYPES = ['all', 'none', 'service', 'workload'] as const;
export type TrafficType = (typeof TRAFFIC_TYPES)[number];

export const GATEWAYS_API = '/apis/gateway.networking.k8s.io/v1';

export function gatewaysPath(namespace: string | undefined, name?: string): string {
  const base =
    namespace === undefined ? `${GATEWAYS_API}/gateways` : `${GATEWAYS_API}/namespaces/${encodeURIComponent(namespace)}/gateways`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

export type KubeObject = Record<string, unknown>;

const MESH_LISTENER = { name: 'mesh', port: 15008, protocol: 'HBONE' } as const;

/** The Gateway `waypoint apply` creates (`generate` prints it without a namespace unless -n was given, as istioctl). */
export function waypointGateway(namespace: string | undefined, name: string, trafficType: TrafficType | undefined): KubeObject {
  const labels = trafficType === undefined ? undefined : { [WAYPOINT_FOR_LABEL]: trafficType };
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, ...(namespace !== undefined && { namespace }), ...(labels && { labels }) },
    spec: { gatewayClassName: WAYPOINT_CLASS, listeners: [{ ...MESH_LISTENER }] },
  };
}

/**
 * The update `waypoint apply` makes to an existing waypoint Gateway, as istioctl's server-side apply does: its own
 * fields (class, the `mesh` listener, the label it was given) are set, everything else (other labels, other
 * listeners, status, resourceVersion) is kept.
 */
export function updatedWaypointGateway(existing: KubeObject, trafficType: TrafficType | undefined): KubeObject {
  const meta = asRecord(existing['metadata']);
  const spec = asRecord(existing['spec']);
  const listeners = (Array.isArray(spec['listeners']) ? spec['listeners'] : []).map(asRecord);
  const i = listeners.findIndex((l) => l['name'] === MESH_LISTENER.name);
  const mesh = { ...(i === -1 ? {} : listeners[i]), ...MESH_LISTENER };
  const merged = i === -1 ? [mesh, ...listeners] : listeners.map((l, j) => (j === i ? mesh : l));
  const labels = { ...asRecord(meta['labels']), ...(trafficType === undefined ? {} : { [WAYPOINT_FOR_LABEL]: trafficType }) };
  return {
    ...existing,
    metadata: { ...meta, ...(Object.keys(labels).length > 0 && { labels }) },
    spec: { ...spec, gatewayClassName: WAYPOINT_CLASS, listeners: merged },
  };
}

export function isWaypoint(gw: KubeObject): boolean {
  return asRecord(gw['spec'])['gatewayClassName'] === WAYPOINT_CLASS;
}

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
}

export function conditionsOf(gw: KubeObject): Condition[] {
  const raw = asRecord(gw['status'])['conditions'];
  return (Array.isArray(raw) ? raw : []).map(asRecord).map((c) => ({
    type: String(c['type'] ?? ''),
    status: String(c['status'] ?? ''),
    reason: String(c['reason'] ?? ''),
    message: String(c['message'] ?? ''),
  }));
}

export function programmed(gw: KubeObject): Condition | undefined {
  return conditionsOf(gw).find((c) => c.type === 'Programmed');
}

export function isProgrammed(gw: KubeObject): boolean {
  return programmed(gw)?.status === 'True';
}

/** One line per condition, for progress and for the timeout error (`Accepted=True (Accepted: …)`). */
export function describeConditions(gw: KubeObject): string {
  const conds = conditionsOf(gw);
  if (conds.length === 0) return 'no status conditions yet (is the Ambit controller running?)';
  return conds
    .map((c) => `${c.type}=${c.status}${c.reason === '' ? '' : ` (${c.reason}${c.message === '' ? '' : `: ${c.message}`})`}`)
    .join('; ');
}

export interface WaypointRow {
  readonly namespace: string;
  readonly name: string;
  readonly revision: string;
  readonly trafficType: string;
  readonly programmed: string;
}

/** istioctl's list columns: revision `default` and traffic type `none` when unlabelled, Programmed `False` when absent. */
export function waypointRow(gw: KubeObject): WaypointRow {
  const meta = asRecord(gw['metadata']);
  const labels = asRecord(meta['labels']);
  const str = (v: unknown, dflt: string): string => (typeof v === 'string' && v !== '' ? v : dflt);
  return {
    namespace: str(meta['namespace'], ''),
    name: str(meta['name'], ''),
    revision: str(labels[REVISION_LABEL], 'default'),
    trafficType: str(labels[WAYPOINT_FOR_LABEL], 'none'),
    programmed: programmed(gw)?.status ?? 'False',
  };
}

/** Waypoint Gateways of a list, sorted by namespace then name (istioctl's order); other Gateways are left out. */
export function waypointsOf(items: readonly KubeObject[]): KubeObject[] {
  const key = (g: KubeObject): string => {
    const m = asRecord(g['metadata']);
    return `${String(m['namespace'] ?? '')}\u0000${String(m['name'] ?? '')}`;
  };
  return items.filter(isWaypoint).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
