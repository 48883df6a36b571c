import type { AppProtocol, PortMapping, Service, Workload } from '@ambit/core';
import { namesWaypoint, type WaypointGatewayRef } from '../state/waypoint-binding.ts';
import type { WaypointState } from './proxy-inputs.ts';

/** What a tunnel's `:authority` (the original destination) names, resolved against the waypoint's state. */
export interface Destination {
  /** The Service addressed (by VIP), or the Service the addressed pod backs on that port. */
  readonly service: Service | undefined;
  /** The Service port (the port of the VIP, or the Service port that maps to the pod's target port). */
  readonly servicePort: number | undefined;
  /** The pod addressed by IP (workload/all waypoints); undefined for a Service VIP. */
  readonly workload: Workload | undefined;
  /** The port on the addressed pod (pod IP destinations). */
  readonly targetPort: number;
  readonly appProtocol: AppProtocol;
}

/**
 * Resolves `host:port` as the source ztunnel sent it: a Service VIP and one of its ports, or a pod IP (then the Service
 * it backs whose port maps to that target port, if any, gives the protocol). Undefined when the waypoint knows neither
 * (the listener refuses the tunnel with 503).
 */
export function resolveDestination(state: WaypointState, host: string, port: number): Destination | undefined {
  const service = state.serviceByVip(host);
  if (service !== undefined) {
    const mapping = service.ports.find((p) => p.servicePort === port);
    if (mapping === undefined) return undefined;
    return { service, servicePort: port, workload: undefined, targetPort: mapping.targetPort, appProtocol: mapping.appProtocol };
  }
  const workload = state.workloadByIp(host);
  if (workload === undefined) return undefined;
  for (const [key, mappings] of Object.entries(workload.services)) {
    const mapping: PortMapping | undefined = mappings.find((m) => m.targetPort === port);
    if (mapping === undefined) continue;
    const slash = key.indexOf('/');
    const backed = state.serviceByHostname(key.slice(0, slash), key.slice(slash + 1));
    return { service: backed, servicePort: mapping.servicePort, workload, targetPort: port, appProtocol: mapping.appProtocol };
  }
  return { service: undefined, servicePort: undefined, workload, targetPort: port, appProtocol: 'UNKNOWN' };
}

/**
 * Whether this waypoint serves the destination: a Service VIP whose Service names this waypoint, or a pod IP whose
 * workload does (a `workload`/`all` waypoint). Istio's waypoint builds its inner listener's filter chains only for the
 * Services and workloads bound to it (pilot `listener_waypoint.go` buildWaypointInternal: an IP matcher over their
 * addresses, no default chain), so a tunnel to anything else finds no chain and is closed; here it is refused with a
 * status instead, so the source ztunnel and the waypoint's log both say why.
 */
export function isBoundHere(dest: Destination, gateway: WaypointGatewayRef, state: WaypointState): boolean {
  const serviceByVip = (ip: string): Service | undefined => state.serviceByVip(ip);
  if (dest.workload !== undefined) return namesWaypoint(dest.workload.waypoint, gateway, serviceByVip);
  return dest.service !== undefined && namesWaypoint(dest.service.waypoint, gateway, serviceByVip);
}
