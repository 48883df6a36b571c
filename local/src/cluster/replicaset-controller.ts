import type { Logger } from '@ambit/core';
import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { controllerRef, isControlledBy, randomSuffix } from './owner.ts';
import { isPodReady, key, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';
import type { EventRecorder } from './events.ts';

/**
 * ReplicaSet → Pods: keeps `replicas` live pods (`<replicaset>-<5 chars>`), deleting the newest surplus first, and
 * counts ready ones in status. Terminating pods no longer count, so a replacement starts while the old one stops.
 */
export function startReplicaSetController(view: StoreView, log: Logger, events?: EventRecorder): Controller {
  return runController(view, log, {
    name: 'replicaset',
    reconcile: (k) => reconcile(view, k, events),
    initialKeys: () => view.list('ReplicaSet').map(key),
    route: (e, add) => {
      if (e.object.kind === 'ReplicaSet') add(key(e.object));
      else if (e.object.kind === 'Pod') {
        const ref = e.object.metadata.ownerReferences?.find((r) => r.kind === 'ReplicaSet');
        if (ref !== undefined) add(`${e.object.metadata.namespace}/${ref.name}`);
      }
    },
  });
}

function reconcile(view: StoreView, k: string, events: EventRecorder | undefined): void {
  const [ns = '', name] = splitKey(k);
  const rs = view.find('ReplicaSet', ns, name);
  if (rs === undefined || rs.metadata.deletionTimestamp !== undefined) return;
  const spec = asRecord(rs['spec']);
  const want = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  const pods = view.list('Pod', ns).filter((p) => isControlledBy(p, rs));
  const live = pods.filter((p) => p.metadata.deletionTimestamp === undefined);
  if (live.length < want) {
    const template = asRecord(spec['template']);
    const tmeta = asRecord(template['metadata']);
    for (let i = live.length; i < want; i++) {
      const created = view.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          ...tmeta,
          name: `${name}-${randomSuffix()}`,
          namespace: ns,
          ownerReferences: [controllerRef(rs)],
        },
        spec: structuredClone(template['spec']),
      });
      events?.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name ?? ''}`, {
        component: 'replicaset-controller',
      });
    }
  } else if (live.length > want) {
    const surplus = [...live].sort(byCreationDesc).slice(0, live.length - want);
    for (const p of surplus) {
      view.remove('Pod', ns, p.metadata.name ?? '');
      events?.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name ?? ''}`, { component: 'replicaset-controller' });
    }
  }
  const after = view.list('Pod', ns).filter((p) => isControlledBy(p, rs) && p.metadata.deletionTimestamp === undefined);
  const ready = after.filter(isPodReady).length;
  const status = {
    replicas: after.length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  if (JSON.stringify(rs['status']) !== JSON.stringify(status)) view.updateStatus({ ...rs, status });
}

function byCreationDesc(a: KubeObject, b: KubeObject): number {
  return (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '');
}
