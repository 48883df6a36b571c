import type { Logger } from '@ambit/core';
import { stableJson } from './owner.ts';
import { runController, type Controller } from './controller.ts';
import { SERVICE_NAME_LABEL } from './endpointslice-controller.ts';
import type { StoreView } from './store-view.ts';
import type { KubeObject } from '../kube/types.ts';

/** The first address of the service range, which a cluster gives its API server's Service (kube-apiserver's rule). */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const KUBERNETES_SERVICE_PORT = 443;
/** The names the API's serving certificate carries besides the Service IP (kube-apiserver's default alternate names). */
export const KUBERNETES_SERVICE_NAMES = [
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
] as const;

export interface ApiEndpoints {
  /** Where the API server answers from inside the cluster: each node's underlay address (its API forwarder). */
  readonly ips: readonly string[];
  /** The port there (the forwarder's, 6443 as kube-apiserver's secure port). */
  readonly port: number;
}

/** `default/kubernetes` as kube-apiserver creates it (pkg/controlplane/controller/kubernetesservice). */
export function kubernetesService(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: KUBERNETES_SERVICE_IP,
      ports: [{ name: 'https', port: KUBERNETES_SERVICE_PORT, protocol: 'TCP', targetPort: 6443 }],
      sessionAffinity: 'None',
    },
  };
}

/**
 * The Service's EndpointSlice as the API server's endpoint reconciler writes it: one ready endpoint per API server
 * address, `skip-mirror` so the mirroring controller leaves it alone. The Service has no selector, so the
 * EndpointSlice controller (endpointslice-controller.ts) never touches it either.
 */
export function kubernetesEndpointSlice(endpoints: ApiEndpoints): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { [SERVICE_NAME_LABEL]: 'kubernetes', 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    addressType: 'IPv4',
    endpoints: endpoints.ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
    ports: [{ name: 'https', port: endpoints.port, protocol: 'TCP' }],
  };
}

/** Creates or repairs the Service and its EndpointSlice; idempotent. Synchronous, so it can run before anything else. */
export function ensureKubernetesService(view: StoreView, endpoints: ApiEndpoints): void {
  if (view.find('Service', 'default', 'kubernetes') === undefined) view.create(kubernetesService());
  const want = kubernetesEndpointSlice(endpoints);
  const cur = view.find('EndpointSlice', 'default', 'kubernetes');
  if (cur === undefined) view.create(want);
  else if (stableJson(cur['endpoints']) !== stableJson(want['endpoints']) || stableJson(cur['ports']) !== stableJson(want['ports'])) {
    view.update({ ...cur, endpoints: want['endpoints'], ports: want['ports'] });
  }
}

/**
 * Keeps `default/kubernetes` and its endpoints in place, as kube-apiserver's Service and endpoint reconcilers do: a
 * deleted or edited Service or EndpointSlice is put back. Call ensureKubernetesService once before starting it, so
 * the first pods already see the Service (their KUBERNETES_SERVICE_HOST).
 */
export function startKubernetesServiceController(view: StoreView, endpoints: ApiEndpoints, log: Logger): Controller {
  return runController(view, log, {
    name: 'kubernetes-service',
    reconcile: () => ensureKubernetesService(view, endpoints),
    initialKeys: () => ['sync'],
    route: (e, add) => {
      const o = e.object;
      if ((o.kind === 'Service' || o.kind === 'EndpointSlice') && o.metadata.namespace === 'default' && o.metadata.name === 'kubernetes') {
        add('sync');
      }
    },
  });
}
