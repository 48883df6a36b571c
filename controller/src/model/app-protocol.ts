import type { AppProtocol } from './core-model.ts';
import type { ServicePortView } from './kube-objects.ts';

/**
 * A Service port's application protocol, the way Istio reads it: `appProtocol` first (Kubernetes' field, including its
 * `kubernetes.io/*` standard values), then the port-name convention `<protocol>` or `<protocol>-<suffix>`
 * (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/). An unrecognised
 * appProtocol falls back to the name, as in Istio. Istio itself only sends HTTP11/HTTP2/GRPC to ztunnel; we also send
 * TCP and TLS, which the WDS enum defines, so proxies can tell "declared opaque" from "unknown".
 */
const BY_NAME: Readonly<Record<string, AppProtocol>> = {
  http: 'HTTP11',
  http2: 'HTTP2',
  grpc: 'GRPC',
  tcp: 'TCP',
  tls: 'TLS',
  https: 'TLS',
};

const BY_APP_PROTOCOL: Readonly<Record<string, AppProtocol>> = {
  ...BY_NAME,
  'kubernetes.io/h2c': 'HTTP2',
  'kubernetes.io/ws': 'HTTP11',
  'kubernetes.io/wss': 'TLS',
};

export function appProtocolOf(port: Pick<ServicePortView, 'name' | 'protocol' | 'appProtocol'>): AppProtocol {
  // ztunnel carries TCP only; a UDP/SCTP port has no application protocol it could act on.
  if (port.protocol.toUpperCase() !== 'TCP') return 'UNKNOWN';
  if (port.appProtocol !== undefined) {
    const declared = BY_APP_PROTOCOL[port.appProtocol.toLowerCase()];
    if (declared !== undefined) return declared;
  }
  const name = port.name.toLowerCase();
  const dash = name.indexOf('-');
  return BY_NAME[dash < 0 ? name : name.slice(0, dash)] ?? 'UNKNOWN';
}
