import { HBONE_PORT, type GatewayAddress } from './core-model.ts';
import type { GatewayView } from './kube-objects.ts';
import {
  USE_WAYPOINT_LABEL,
  USE_WAYPOINT_NAMESPACE_LABEL,
  USE_WAYPOINT_NONE,
  WAYPOINT_FOR_LABEL,
  WAYPOINT_GATEWAY_CLASS,
} from './labels.ts';

/** Which kind of traffic the target receives: a Service (VIP-addressed) or a workload (pod-IP-addressed). */
export type WaypointTraffic = 'service' | 'workload';

export interface WaypointTarget {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly traffic: WaypointTraffic;
  /** Name of the Gateway this object is part of (the waypoint's own pods and Service): it never waypoints itself. */
  readonly ownGateway?: string;
}

export interface WaypointProblem {
  /** Where the bad reference was written: `metadata.labels[...]` on the object, or on its Namespace. */
  readonly field: string;
  readonly onNamespace: boolean;
  readonly message: string;
}

export type WaypointResult =
  | { readonly waypoint?: GatewayAddress; readonly problem?: undefined }
  | { readonly waypoint?: undefined; readonly problem: WaypointProblem };

/**
 * Istio's enrolment rule (is:`pilot/pkg/serviceregistry/ambient/waypoints.go`): `istio.io/use-waypoint` on the object
 * wins over its namespace's; `none` opts out; the Gateway lives in the labelled object's namespace unless
 * `istio.io/use-waypoint-namespace` (on the same object) says otherwise. The reference only counts if it names an
 * existing `istio-waypoint` Gateway that accepts this kind of traffic (`istio.io/waypoint-for`, default `service`,
 * so namespace-wide waypoints leave pod-addressed traffic alone unless the Gateway says `workload` or `all`).
 * A dangling reference leaves the waypoint unset — traffic then goes direct, as in Istio — and is reported.
 */
export function resolveWaypoint(
  target: WaypointTarget,
  gatewayOf: (namespace: string, name: string) => GatewayView | undefined,
): WaypointResult {
  const own = target.labels[USE_WAYPOINT_LABEL];
  const onNamespace = own === undefined || own === '';
  const labels = onNamespace ? target.namespaceLabels : target.labels;
  const name = labels[USE_WAYPOINT_LABEL];
  if (name === undefined || name === '' || name === USE_WAYPOINT_NONE) return {};
  const namespace = labels[USE_WAYPOINT_NAMESPACE_LABEL] || target.namespace;
  if (namespace === target.namespace && name === target.ownGateway) return {};

  const field = `metadata.labels[${USE_WAYPOINT_LABEL}]`;
  const gateway = gatewayOf(namespace, name);
  if (gateway === undefined) {
    return { problem: { field, onNamespace, message: `waypoint Gateway ${namespace}/${name} does not exist` } };
  }
  if (gateway.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
    return {
      problem: {
        field,
        onNamespace,
        message: `Gateway ${namespace}/${name} has gatewayClassName ${gateway.gatewayClassName}, not ${WAYPOINT_GATEWAY_CLASS}`,
      },
    };
  }
  const accepts = gateway.meta.labels[WAYPOINT_FOR_LABEL] || 'service';
  if (accepts !== 'all' && accepts !== target.traffic) return {};
  return {
    waypoint: {
      destination: { kind: 'hostname', namespace, hostname: `${name}.${namespace}.svc.cluster.local` },
      hboneMtlsPort: HBONE_PORT,
    },
  };
}
