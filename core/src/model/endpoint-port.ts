import { isIP } from 'node:net';
import { serviceKey, type Service, type Workload } from './types.ts';

/** IPv6 addresses have several spellings; lookup keys use one (IPv4 as is). Shared by every proxy's address index. */
export function ipKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/**
 * The port `workload` takes traffic for `service:servicePort` on, or undefined when it cannot (Kubernetes' rules):
 * the workload's own port map first (a named targetPort resolved for this pod; 0 = the pod does not define that
 * name, so the endpoint cannot take this port), else the Service's numeric targetPort, else the Service port itself.
 * ztunnel's load balancing and the waypoint's endpoint choice both resolve ports through this one function.
 */
export function targetPortFor(workload: Workload, service: Service, servicePort: number): number | undefined {
  const own = workload.services[serviceKey(service)]?.find((p) => p.servicePort === servicePort);
  if (own !== undefined) return own.targetPort > 0 ? own.targetPort : undefined;
  const declared = service.ports.find((p) => p.servicePort === servicePort);
  if (declared === undefined) return undefined;
  return declared.targetPort > 0 ? declared.targetPort : servicePort;
}
