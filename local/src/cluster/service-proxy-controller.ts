import type { Logger } from '@ambit/core';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { syncServiceRules, type ServiceRule } from '../net/service-proxy.ts';
import type { Topology } from '../net/topology.ts';
import { SERVICE_NAME_LABEL } from './endpointslice-controller.ts';
import { labelsOf, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';

/**
 * The local kube-proxy: turns Services and their EndpointSlices into each node's nftables DNAT rules, so a
 * ClusterIP works for pods that are not in the mesh (mesh pods' traffic is captured in their own namespace before it
 * reaches these rules). All nodes get the same rules; a change re-syncs every node in one debounced pass.
 */
export function startServiceProxy(view: StoreView, topology: Topology, log: Logger): Controller {
  return runController(view, log, {
    name: 'service-proxy',
    reconcile: async () => {
      const rules = computeRules(view);
      await Promise.all(topology.nodes.map((n) => syncServiceRules(n.netns, rules)));
    },
    initialKeys: () => ['sync'],
    route: (e, add) => {
      if (e.object.kind === 'Service' || e.object.kind === 'EndpointSlice') add('sync');
    },
  });
}

export function computeRules(view: StoreView): ServiceRule[] {
  const rules: ServiceRule[] = [];
  for (const svc of view.list('Service')) {
    const spec = asRecord(svc['spec']);
    const clusterIP = spec['clusterIP'];
    if (typeof clusterIP !== 'string' || clusterIP === 'None' || clusterIP === '') continue;
    const slices = view.list('EndpointSlice', svc.metadata.namespace).filter((s) => labelsOf(s)[SERVICE_NAME_LABEL] === svc.metadata.name);
    for (const p of Array.isArray(spec['ports']) ? spec['ports'].filter(isRecord) : []) {
      const protocol = p['protocol'] === 'UDP' ? 'UDP' : p['protocol'] === 'TCP' || p['protocol'] === undefined ? 'TCP' : undefined;
      if (protocol === undefined || typeof p['port'] !== 'number') continue;
      rules.push({ clusterIP, port: p['port'], protocol, endpoints: readyEndpoints(slices, p['name']) });
    }
  }
  return rules;
}

function readyEndpoints(slices: readonly KubeObject[], portName: unknown): Array<{ ip: string; port: number }> {
  const out: Array<{ ip: string; port: number }> = [];
  for (const slice of slices) {
    const ports = Array.isArray(slice['ports']) ? slice['ports'].filter(isRecord) : [];
    const port = ports.find((sp) => (sp['name'] ?? undefined) === (portName ?? undefined))?.['port'];
    if (typeof port !== 'number') continue;
    for (const ep of Array.isArray(slice['endpoints']) ? slice['endpoints'].filter(isRecord) : []) {
      if (asRecord(ep['conditions'])['ready'] !== true) continue;
      for (const ip of Array.isArray(ep['addresses']) ? ep['addresses'] : []) if (typeof ip === 'string') out.push({ ip, port });
    }
  }
  return out;
}
