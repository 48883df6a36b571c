import type { Logger } from '@ambit/core';
import { asRecord } from '@ambit/core';
import { controllerRef, isControlledBy, randomSuffix } from './owner.ts';
import { deletionOrder } from './active-pods.ts';
import { availability } from './daemonset-rollout.ts';
import { isPodReady, key, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';
import type { EventRecorder } from './events.ts';

/**
 * ReplicaSet → Pods: keeps `replicas` live pods (`<replicaset>-<5 chars>`), deleting surplus in the ReplicaSet
 * controller's order (not-ready and newest first), and counts ready and available pods in status (available: ready
 * for `minReadySeconds`; the ReplicaSet is reconciled again when the next pod becomes available). Terminating pods no
 * longer count, so a replacement starts while the old one stops.
 */
export function startReplicaSetController(view: StoreView, log: Logger, events?: EventRecorder): Controller {
  return runController(view, log, {
    name: 'replicaset',
    reconcile: (k, requeueAfter) => reconcile(view, k, events, (delayMs) => requeueAfter(k, delayMs)),
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

function reconcile(view: StoreView, k: string, events: EventRecorder | undefined, requeueAfter: (delayMs: number) => void): void {
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
    const surplus = [...live].sort(deletionOrder).slice(0, live.length - want);
    for (const p of surplus) {
      view.remove('Pod', ns, p.metadata.name ?? '');
      events?.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name ?? ''}`, { component: 'replicaset-controller' });
    }
  }
  const after = view.list('Pod', ns).filter((p) => isControlledBy(p, rs) && p.metadata.deletionTimestamp === undefined);
  const ready = after.filter(isPodReady).length;
  const minReadySeconds = typeof spec['minReadySeconds'] === 'number' ? spec['minReadySeconds'] : 0;
  const now = new Date();
  let available = 0;
  let nextInMs = Infinity;
  for (const p of after) {
    const a = availability(p, minReadySeconds, now);
    if (a.available) available++;
    else if (a.inMs !== Infinity) nextInMs = Math.min(nextInMs, a.inMs);
  }
  if (nextInMs !== Infinity) requeueAfter(nextInMs + 50);
  const selector = asRecord(asRecord(spec['selector'])['matchLabels']);
  const fullyLabeled = after.filter((p) => Object.entries(selector).every(([lk, lv]) => p.metadata.labels?.[lk] === lv)).length;
  const status = {
    replicas: after.length,
    fullyLabeledReplicas: fullyLabeled,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  if (JSON.stringify(rs['status']) !== JSON.stringify(status)) view.updateStatus({ ...rs, status });
}
