import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { asRecord, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { gcStore, storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';
import { createAdmission } from './admission.ts';
import type { Controller } from './controller.ts';
import { startDeploymentController } from './deployment-controller.ts';
import { startGarbageCollector } from './garbage-collector.ts';
import { startReplicaSetController } from './replicaset-controller.ts';
import type { StoreView } from './store-view.ts';

// The deployment controller's rolling update counts only available pods (Ready for minReadySeconds), so the pods'
// readiness — written here as a kubelet would — is what moves a rollout forward.

const log = silentLogger();
const running: Controller[] = [];
after(async () => {
  await Promise.all(running.map((c) => c.stop()));
});

function cluster(): StoreView {
  const bound: { view?: StoreView } = {};
  const admit = createAdmission(() => bound.view as StoreView, ['node1']);
  const store = new ObjectStore({ admission: [{ admit }], namespaces: ['default', 'demo'] });
  const view = storeView(store);
  bound.view = view;
  running.push(startDeploymentController(view, log), startReplicaSetController(view, log), startGarbageCollector(gcStore(store), log));
  return view;
}

function deployment(replicas: number, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'demo' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', command: ['sleep', 'infinity'] }] } },
      ...spec,
    },
  };
}

/** Ready since `sinceMs` ago, as the kubelet writes it. */
function markReady(view: StoreView, pod: KubeObject, sinceMs = 60_000): void {
  const cur = view.find('Pod', 'demo', pod.metadata.name ?? '');
  assert.ok(cur, `pod ${pod.metadata.name ?? ''} exists`);
  const at = new Date(Date.now() - sinceMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  view.updateStatus({ ...cur, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: at }] } });
}

const liveOf = (view: StoreView, revision: string): KubeObject[] => {
  const rs = view.list('ReplicaSet', 'demo').find((s) => s.metadata.annotations?.['deployment.kubernetes.io/revision'] === revision);
  return view
    .list('Pod', 'demo')
    .filter((p) => p.metadata.deletionTimestamp === undefined && p.metadata.ownerReferences?.[0]?.uid === rs?.metadata.uid);
};
const scaleOf = (view: StoreView): number[] =>
  ['1', '2'].map((rev) => {
    const rs = view.list('ReplicaSet', 'demo').find((s) => s.metadata.annotations?.['deployment.kubernetes.io/revision'] === rev);
    return Number(asRecord(rs?.['spec'])['replicas'] ?? -1);
  });
const status = (view: StoreView): Record<string, unknown> => asRecord(view.find('Deployment', 'demo', 'web')?.['status']);
const condition = (view: StoreView, type: string): Record<string, unknown> | undefined =>
  (status(view)['conditions'] as unknown[] | undefined)?.map(asRecord).find((c) => c['type'] === type);

function changeTemplate(view: StoreView): void {
  const d = view.find('Deployment', 'demo', 'web');
  assert.ok(d);
  const spec = structuredClone(asRecord(d['spec']));
  asRecord(asRecord(spec['template'])['metadata'])['annotations'] = { rev: '2' };
  view.update({ ...d, spec });
}

test('maxSurge 1, maxUnavailable 0: one new pod at a time, an old one goes only after a new one is available', async () => {
  const view = cluster();
  view.create(
    deployment(3, { minReadySeconds: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }),
  );
  await eventually(() => assert.equal(liveOf(view, '1').length, 3));
  for (const p of liveOf(view, '1')) markReady(view, p);
  await eventually(() => {
    assert.equal(status(view)['availableReplicas'], 3);
    assert.equal(condition(view, 'Available')?.['status'], 'True');
    assert.equal(condition(view, 'Progressing')?.['reason'], 'NewReplicaSetAvailable');
  });

  changeTemplate(view);
  await eventually(() => assert.deepEqual(scaleOf(view), [3, 1]));
  const [first] = liveOf(view, '2');
  assert.ok(first);
  // Not ready: nothing else moves, whatever the controllers get to see meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 300)); // a window for a wrong scale-down to happen
  assert.deepEqual(scaleOf(view), [3, 1]);
  assert.equal(status(view)['updatedReplicas'], 1);
  assert.equal(status(view)['unavailableReplicas'], 1);
  // Ready just now: available only after minReadySeconds (3 s, well beyond the 300 ms window on a loaded machine).
  markReady(view, first, 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(scaleOf(view), [3, 1], 'ready but not yet available for minReadySeconds');
  await eventually(() => assert.deepEqual(scaleOf(view), [2, 2]), 6000);
  for (const p of liveOf(view, '2')) if (p.metadata.name !== first.metadata.name) markReady(view, p);
  await eventually(() => assert.deepEqual(scaleOf(view), [1, 3]));
  for (const p of liveOf(view, '2')) markReady(view, p);
  await eventually(() => {
    assert.deepEqual(scaleOf(view), [0, 3]);
    assert.equal(liveOf(view, '1').length, 0);
    const st = status(view);
    assert.deepEqual([st['replicas'], st['updatedReplicas'], st['availableReplicas'], st['unavailableReplicas']], [3, 3, 3, 0]);
    assert.equal(condition(view, 'Progressing')?.['reason'], 'NewReplicaSetAvailable');
    assert.match(String(condition(view, 'Progressing')?.['message']), /^ReplicaSet "web-\w+" has successfully progressed\.$/);
  });
});

test('maxSurge 0, maxUnavailable 1: an old pod goes first, the new one takes its place', async () => {
  const view = cluster();
  view.create(deployment(2, { strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } }));
  await eventually(() => assert.equal(liveOf(view, '1').length, 2));
  for (const p of liveOf(view, '1')) markReady(view, p);
  await eventually(() => assert.equal(status(view)['availableReplicas'], 2));
  changeTemplate(view);
  await eventually(() => assert.deepEqual(scaleOf(view), [1, 1]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(scaleOf(view), [1, 1], 'the second old pod waits for the new one');
  assert.equal(condition(view, 'Available')?.['status'], 'True', '1 of 2 available is within maxUnavailable 1');
  for (const p of liveOf(view, '2')) markReady(view, p);
  await eventually(() => assert.deepEqual(scaleOf(view), [0, 2]));
});

test('Recreate: old pods go first; the new ReplicaSet grows once they are gone', async () => {
  const view = cluster();
  view.create(deployment(2, { strategy: { type: 'Recreate' } }));
  await eventually(() => assert.equal(liveOf(view, '1').length, 2));
  changeTemplate(view);
  await eventually(() => assert.deepEqual(scaleOf(view), [0, 0]));
  // Pods on a node terminate gracefully; here no kubelet finishes that, so the test does.
  const terminating = view.list('Pod', 'demo');
  assert.equal(terminating.length, 2);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(scaleOf(view), [0, 0], 'not while old pods still exist');
  for (const p of terminating) view.remove('Pod', 'demo', p.metadata.name ?? '', 0);
  await eventually(() => {
    assert.deepEqual(scaleOf(view), [0, 2]);
    assert.equal(liveOf(view, '2').length, 2);
  });
});

test('a rollout that makes no progress for progressDeadlineSeconds is reported as timed out', async () => {
  const view = cluster();
  view.create(deployment(1, { progressDeadlineSeconds: 1 }));
  await eventually(() => assert.equal(liveOf(view, '1').length, 1));
  for (const p of liveOf(view, '1')) markReady(view, p);
  await eventually(() => assert.equal(condition(view, 'Progressing')?.['reason'], 'NewReplicaSetAvailable'));
  changeTemplate(view);
  // The new pod never becomes ready.
  await eventually(() => {
    const c = condition(view, 'Progressing');
    assert.equal(c?.['status'], 'False');
    assert.equal(c?.['reason'], 'ProgressDeadlineExceeded');
    assert.match(String(c?.['message']), /^ReplicaSet "web-\w+" has timed out progressing\.$/);
  }, 5000);
  assert.deepEqual(scaleOf(view), [1, 1], 'the old pod keeps serving');
});

test('a strategy Kubernetes refuses is refused at admission with the field named', () => {
  const view = cluster();
  assert.throws(
    () => view.create(deployment(1, { strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } })),
    (err: unknown) => /spec\.strategy\.rollingUpdate\.maxUnavailable: may not be 0 when `maxSurge` is 0/.test(String(err)),
  );
  assert.throws(
    () => view.create(deployment(1, { strategy: { rollingUpdate: { maxSurge: 'lots' } } })),
    (err: unknown) => /spec\.strategy\.rollingUpdate\.maxSurge: must be a non-negative integer or a percentage/.test(String(err)),
  );
});
