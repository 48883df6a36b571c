import type { Logger } from '@ambit/core';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { controllerRef, stableJson, templateHash } from './owner.ts';
import { isPodReady, key, labelsOf, matchesSelector, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const MANAGED_BY = 'endpointslice-controller.k8s.io';

interface SlicePort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: string;
}

/**
 * Service → EndpointSlices, as kube-controller-manager's EndpointSlice controller: one slice per distinct port
 * mapping (a named targetPort can resolve to different numbers on different pods), every selected pod that has an
 * IP, with ready/serving/terminating conditions. Slices are named deterministically from the mapping, so a
 * reconcile rewrites the same slice instead of churning names.
 */
export function startEndpointSliceController(view: StoreView, log: Logger): Controller {
  return runController(view, log, {
    name: 'endpointslice',
    reconcile: (k) => reconcile(view, k),
    initialKeys: () => view.list('Service').map(key),
    route: (e, add) => {
      const o = e.object;
      if (o.kind === 'Service') add(key(o));
      else if (o.kind === 'Pod') {
        // A pod change can move it in or out of any Service of its namespace.
        for (const svc of view.list('Service', o.metadata.namespace)) add(key(svc));
      } else if (o.kind === 'EndpointSlice' && e.type === 'DELETED') {
        const svc = labelsOf(o)[SERVICE_NAME_LABEL];
        if (svc !== undefined) add(`${o.metadata.namespace}/${svc}`);
      }
    },
  });
}

function reconcile(view: StoreView, k: string): void {
  const [ns = '', name] = splitKey(k);
  const svc = view.find('Service', ns, name);
  const existing = view.list('EndpointSlice', ns).filter((s) => labelsOf(s)[SERVICE_NAME_LABEL] === name);
  const selector = svc === undefined ? undefined : (asRecord(svc['spec'])['selector'] as Record<string, string> | undefined);
  if (svc === undefined || selector === undefined || svc.metadata.deletionTimestamp !== undefined) {
    // A Service without a selector has its slices managed by the user; only clean up what we made.
    for (const s of existing)
      if (labelsOf(s)['endpointslice.kubernetes.io/managed-by'] === MANAGED_BY) view.remove('EndpointSlice', ns, s.metadata.name ?? '');
    return;
  }
  const groups = new Map<string, { ports: SlicePort[]; endpoints: unknown[] }>();
  const svcPorts = (asRecord(svc['spec'])['ports'] as unknown[] | undefined) ?? [];
  for (const pod of view.list('Pod', ns)) {
    if (!matchesSelector(labelsOf(pod), selector)) continue;
    const status = asRecord(pod['status']);
    const ip = status['podIP'];
    if (typeof ip !== 'string' || ip === '') continue;
    if (status['phase'] === 'Succeeded' || status['phase'] === 'Failed') continue;
    const resolved = svcPorts.filter(isRecord).map((p) => resolvePort(p, pod));
    // Kubernetes leaves out a pod whose container ports do not define a named targetPort.
    if (resolved.some((p) => p === undefined)) continue;
    const ports = resolved as SlicePort[];
    const sig = stableJson(ports);
    let group = groups.get(sig);
    if (group === undefined) {
      group = { ports, endpoints: [] };
      groups.set(sig, group);
    }
    const terminating = pod.metadata.deletionTimestamp !== undefined;
    const ready = !terminating && isPodReady(pod);
    group.endpoints.push({
      addresses: [ip],
      conditions: { ready, serving: isPodReady(pod), terminating },
      nodeName: asRecord(pod['spec'])['nodeName'],
      targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
    });
  }
  if (groups.size === 0) {
    const ports = svcPorts
      .filter(isRecord)
      .map((p) => resolvePort(p, undefined))
      .filter((p) => p !== undefined);
    groups.set('', { ports, endpoints: [] });
  }
  const wanted = new Set<string>();
  for (const [sig, group] of groups) {
    const sliceName = `${name}-${templateHash(sig).slice(0, 5)}`;
    wanted.add(sliceName);
    const body: KubeObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: sliceName,
        namespace: ns,
        labels: { [SERVICE_NAME_LABEL]: name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
        ownerReferences: [controllerRef(svc)],
      },
      addressType: 'IPv4',
      endpoints: group.endpoints.sort((a, b) => stableJson(a).localeCompare(stableJson(b))),
      ports: group.ports,
    };
    const cur = existing.find((s) => s.metadata.name === sliceName);
    if (cur === undefined) view.create(body);
    else if (stableJson(cur['endpoints']) !== stableJson(body['endpoints']) || stableJson(cur['ports']) !== stableJson(body['ports'])) {
      view.update({ ...cur, endpoints: body['endpoints'], ports: body['ports'] });
    }
  }
  for (const s of existing) if (!wanted.has(s.metadata.name ?? '')) view.remove('EndpointSlice', ns, s.metadata.name ?? '');
}

/** Resolves a Service port's targetPort for one pod: a number as is, a name through the pod's container ports. */
function resolvePort(svcPort: Record<string, unknown>, pod: KubeObject | undefined): SlicePort | undefined {
  const protocol = typeof svcPort['protocol'] === 'string' ? svcPort['protocol'] : 'TCP';
  const target = svcPort['targetPort'] ?? svcPort['port'];
  let port = typeof target === 'number' ? target : undefined;
  if (typeof target === 'string' && pod !== undefined) {
    const containers = (asRecord(pod['spec'])['containers'] as unknown[] | undefined) ?? [];
    for (const c of containers) {
      for (const p of (asRecord(c)['ports'] as unknown[] | undefined) ?? []) {
        const cp = asRecord(p);
        if (cp['name'] === target && typeof cp['containerPort'] === 'number') port = cp['containerPort'];
      }
    }
  }
  if (port === undefined) return undefined;
  const name = svcPort['name'];
  return typeof name === 'string' ? { name, port, protocol } : { port, protocol };
}
