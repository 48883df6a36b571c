import type { PortMapping, TunnelProtocol, Workload } from './core-model.ts';
import type { GatewayView, PodView, ServiceView } from './kube-objects.ts';
import {
  DATAPLANE_MODE_AMBIENT,
  DATAPLANE_MODE_LABEL,
  DATAPLANE_MODE_NONE,
  GATEWAY_NAME_LABEL,
  SIDECAR_STATUS_ANNOTATION,
  WAYPOINT_GATEWAY_CLASS,
} from './labels.ts';
import { portsForPod, serviceHostname, serviceSelectsPod } from './service.ts';
import { resolveWaypoint, type WaypointProblem } from './waypoint.ts';
import { canonicalNames, workloadOwner } from './workload-owner.ts';

export interface WorkloadContext {
  readonly clusterId: string;
  readonly trustDomain: string;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  /** Services of the pod's namespace (others cannot select it). */
  readonly services: Iterable<ServiceView>;
  readonly gatewayOf: (namespace: string, name: string) => GatewayView | undefined;
  /** Selector-scoped Authorization keys that apply to this pod, computed by the policy index. */
  readonly authorizationPolicies: readonly string[];
}

export interface BuiltWorkload {
  /** Undefined when the pod is not a workload (yet, or any more): no IP, or a terminal phase. */
  readonly workload?: Workload;
  readonly waypointProblem?: WaypointProblem;
}

export function workloadUid(clusterId: string, namespace: string, name: string): string {
  return `${clusterId}//Pod/${namespace}/${name}`;
}

/**
 * Istio's captured-or-not rule (§3): the pod's `istio.io/dataplane-mode` wins over its namespace's; sidecar-injected
 * pods have their own proxy; host-network pods share the node's netns, which CNI cannot redirect.
 */
export function tunnelProtocolOf(pod: PodView, namespaceLabels: Readonly<Record<string, string>>): TunnelProtocol {
  if (pod.meta.annotations[SIDECAR_STATUS_ANNOTATION] !== undefined || pod.hostNetwork) return 'NONE';
  const own = pod.meta.labels[DATAPLANE_MODE_LABEL];
  if (own === DATAPLANE_MODE_NONE) return 'NONE';
  if (own === DATAPLANE_MODE_AMBIENT) return 'HBONE';
  return namespaceLabels[DATAPLANE_MODE_LABEL] === DATAPLANE_MODE_AMBIENT ? 'HBONE' : 'NONE';
}

/**
 * A pod of an `istio-waypoint` Gateway's deployment (contract 4). It is `dataplane-mode: none` — ztunnel does not
 * capture it — yet it terminates and originates HBONE itself on its pod IP, so it is published with HBONE and
 * ztunnels tunnel to it.
 */
export function isWaypointPod(pod: PodView, gatewayOf: WorkloadContext['gatewayOf']): boolean {
  const gw = pod.meta.labels[GATEWAY_NAME_LABEL];
  return gw !== undefined && gatewayOf(pod.meta.namespace, gw)?.gatewayClassName === WAYPOINT_GATEWAY_CLASS;
}

/**
 * A pod's Workload. Not-ready and terminating pods stay in the model as UNHEALTHY — as in Istio, ztunnel still needs
 * their identity for connections already open to them and for inbound traffic they receive while draining — and
 * proxies load-balance Service traffic over HEALTHY workloads only, which is how they stop being endpoints.
 * Succeeded/Failed pods are dropped: their IP may already belong to a new pod.
 */
export function buildWorkload(pod: PodView, ctx: WorkloadContext): BuiltWorkload {
  if (pod.ips.length === 0 || pod.phase === 'Succeeded' || pod.phase === 'Failed') return {};
  const { name, namespace, labels } = pod.meta;
  const owner = workloadOwner(pod);

  const services: Record<string, readonly PortMapping[]> = {};
  const selecting = [...ctx.services].filter((s) => serviceSelectsPod(s, pod));
  for (const s of selecting.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))) {
    services[`${namespace}/${serviceHostname(s.meta.name, namespace)}`] = portsForPod(s, pod);
  }

  const ownGateway = labels[GATEWAY_NAME_LABEL];
  const result = resolveWaypoint(
    {
      namespace,
      labels,
      namespaceLabels: ctx.namespaceLabels,
      traffic: 'workload',
      ...(ownGateway === undefined ? {} : { ownGateway }),
    },
    ctx.gatewayOf,
  );

  const healthy = pod.phase === 'Running' && pod.ready && pod.meta.deletionTimestamp === undefined;
  const workload: Workload = {
    uid: workloadUid(ctx.clusterId, namespace, name),
    name,
    namespace,
    addresses: pod.ips,
    hostname: '',
    network: '',
    tunnelProtocol: isWaypointPod(pod, ctx.gatewayOf) ? 'HBONE' : tunnelProtocolOf(pod, ctx.namespaceLabels),
    trustDomain: ctx.trustDomain,
    serviceAccount: pod.serviceAccountName,
    ...(result.waypoint === undefined ? {} : { waypoint: result.waypoint }),
    node: pod.nodeName,
    ...canonicalNames(labels, owner.workloadName),
    workloadType: owner.workloadType,
    workloadName: owner.workloadName,
    services,
    authorizationPolicies: ctx.authorizationPolicies,
    status: healthy ? 'HEALTHY' : 'UNHEALTHY',
    clusterId: ctx.clusterId,
  };
  return result.problem === undefined ? { workload } : { workload, waypointProblem: result.problem };
}
