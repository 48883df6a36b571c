import { appProtocolOf } from './app-protocol.ts';
import type { PortMapping, Service } from './core-model.ts';
import type { GatewayView, PodView, ServiceView } from './kube-objects.ts';
import { selectorMatches } from './labels.ts';
import { resolveWaypoint, type WaypointProblem } from './waypoint.ts';

/** Kubernetes' cluster DNS domain; Istio hard-codes the same default for Service hostnames. */
export const CLUSTER_DOMAIN = 'cluster.local';

export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

export interface ServiceContext {
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly gatewayOf: (namespace: string, name: string) => GatewayView | undefined;
}

export interface BuiltService {
  readonly service: Service;
  readonly waypointProblem?: WaypointProblem;
}

/**
 * The WDS Service. A named targetPort is 0 here because only a pod can resolve it (each pod of the Service may
 * number the port differently); the per-pod resolution is in each Workload's `services` map, as in Istio.
 */
export function buildService(view: ServiceView, ctx: ServiceContext): BuiltService {
  const { name, namespace, labels } = view.meta;
  const result = resolveWaypoint(
    { namespace, labels, namespaceLabels: ctx.namespaceLabels, traffic: 'service', ownGateway: name },
    ctx.gatewayOf,
  );
  const service: Service = {
    name,
    namespace,
    hostname: serviceHostname(name, namespace),
    addresses: view.clusterIps.map((address) => ({ network: '', address })),
    ports: view.ports.map((p) => ({
      servicePort: p.port,
      targetPort: typeof p.targetPort === 'string' ? 0 : (p.targetPort ?? p.port),
      appProtocol: appProtocolOf(p),
    })),
    subjectAltNames: [],
    ...(result.waypoint === undefined ? {} : { waypoint: result.waypoint }),
  };
  return result.problem === undefined ? { service } : { service, waypointProblem: result.problem };
}

/** A Service selects a pod only with a non-empty selector (an empty one means "endpoints managed by hand"). */
export function serviceSelectsPod(service: ServiceView, pod: PodView): boolean {
  return (
    service.meta.namespace === pod.meta.namespace &&
    Object.keys(service.selector).length > 0 &&
    selectorMatches(service.selector, pod.meta.labels)
  );
}

/**
 * The Service's ports as this pod serves them: a named targetPort resolves to the pod's container port of that name
 * and protocol (0 when the pod has none, so proxies know the port is not served here); a number is used as is; an
 * absent targetPort means the service port.
 */
export function portsForPod(service: ServiceView, pod: PodView): PortMapping[] {
  return service.ports.map((p) => {
    let targetPort: number;
    if (typeof p.targetPort === 'string') {
      const named = pod.containerPorts.find((c) => c.name === p.targetPort && c.protocol === p.protocol);
      targetPort = named?.containerPort ?? 0;
    } else {
      targetPort = p.targetPort ?? p.port;
    }
    return { servicePort: p.port, targetPort, appProtocol: appProtocolOf(p) };
  });
}
