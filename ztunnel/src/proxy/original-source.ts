import { isIP } from 'node:net';

/**
 * Bind options that make the app see the real client address on inbound connections, as Istio's ztunnel does in
 * in-pod mode: the upstream socket binds the client's IP with IP_TRANSPARENT. The app's replies to that address
 * would leave the pod; the capture rules mark them (connmark 0x111, restored on output) and the pod's policy route
 * (`fwmark 0x111 lookup 100`, `local default dev lo table 100`) brings them back to ztunnel's socket.
 * Nothing to spoof when the client is the pod itself or of another family.
 */
export function originalSource(clientIp: string, podIp: string): { localAddress: string; transparent: true } | Record<string, never> {
  if (clientIp === '' || clientIp === podIp || isIP(clientIp) !== isIP(podIp)) return {};
  return { localAddress: clientIp, transparent: true };
}
