import type { GatewayAddress, Service } from '@ambit/core';

/** The Gateway a waypoint pod serves. */
export interface WaypointGatewayRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Whether a Service's or workload's `waypoint` names this waypoint's Gateway. The controller names it by hostname
 * (`<name>.<namespace>.svc.<cluster domain>`; the domain may vary); an address names it through the Gateway's Service
 * VIP. One definition for the route store (whose routes apply here) and the data path (whose traffic is served here).
 */
export function namesWaypoint(
  w: GatewayAddress | undefined,
  gateway: WaypointGatewayRef,
  serviceByVip: (ip: string) => Service | undefined,
): boolean {
  if (w === undefined) return false;
  const d = w.destination;
  if (d.kind === 'hostname') return d.namespace === gateway.namespace && d.hostname.startsWith(`${gateway.name}.${gateway.namespace}.svc.`);
  const s = serviceByVip(d.address);
  return s !== undefined && s.namespace === gateway.namespace && s.name === gateway.name;
}
