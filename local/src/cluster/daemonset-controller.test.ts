import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { asRecord, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { startPodStatusStub } from '../../testing/pod-status-stub.ts';
import { ObjectStore } from '../store/object-store.ts';
import { storeView } from '../runner/store-adapter.ts';
import { createAdmission } from './admission.ts';
import type { Controller } from './controller.ts';
import { startDaemonSetController } from './daemonset-controller.ts';
import { rollingUpdateStep } from './daemonset-rollout.ts';
import { EventRecorder } from './events.ts';
import type { StoreView } from './store-view.ts';

const log = silentLogger();
const NODES = ['node-1', 'node-2', 'node-3'];

interface Sim {
  readonly view: StoreView;
  readonly store: ObjectStore;
  /** Pods the simulated kubelets keep not-ready (by name). */
  readonly holdNotReady: Set<string>;
  /** Nodes seen without a ready, non-terminating pod at some store change since `trackGaps` was set. */
  readonly readyGaps: string[];
  trackGaps: boolean;
  stop(): Promise<void>;
}

/**
 * A DaemonSet controller over a real store, with stand-in kubelets: a pod on a node becomes Running and Ready unless
 * the test holds it, and a terminating pod is removed at once (the kubelet's final delete with grace 0).
 */
function cluster(nodeObjects: KubeObject[] = NODES.map((n) => node(n))): Sim {
  const bound: { view?: StoreView } = {};
  const admit = createAdmission(() => bound.view as StoreView, NODES);
  const store = new ObjectStore({ admission: [{ admit }], namespaces: ['default', 'kube-system'] });
  const view = storeView(store);
  bound.view = view;
  for (const n of nodeObjects) view.create(n);
  const events = new EventRecorder({ view, log });
  const holdNotReady = new Set<string>();
  const readyGaps: string[] = [];
  const gaps = (): void => {
    if (!sim.trackGaps) return;
    const pods = view.list('Pod', 'kube-system').filter((p) => isReady(p) && p.metadata.deletionTimestamp === undefined);
    for (const n of NODES) if (!pods.some((p) => asRecord(p['spec'])['nodeName'] === n)) readyGaps.push(n);
  };
  const stopKubelets = startPodStatusStub(view, 'kube-system', holdNotReady);
  const unsubscribe = view.onChange(gaps);
  const controller: Controller = startDaemonSetController(view, log, events);
  const sim: Sim = {
    view,
    store,
    holdNotReady,
    readyGaps,
    trackGaps: false,
    stop: async () => {
      unsubscribe();
      stopKubelets();
      await controller.stop();
      events.close();
    },
  };
  return sim;
}

function isReady(p: KubeObject): boolean {
  const conds = asRecord(p['status'])['conditions'];
  return Array.isArray(conds) && conds.some((c) => asRecord(c)['type'] === 'Ready' && asRecord(c)['status'] === 'True');
}

function node(name: string, labels: Record<string, string> = {}, taints: unknown[] = []): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: taints.length === 0 ? {} : { taints },
  };
}

function daemonSet(name: string, extra: { spec?: Record<string, unknown>; podSpec?: Record<string, unknown> } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'kube-system' },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'img:1', command: ['sleep', 'infinity'] }], ...extra.podSpec },
      },
      ...extra.spec,
    },
  };
}

const sims: Sim[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

function start(nodes?: KubeObject[]): Sim {
  const s = cluster(nodes);
  sims.push(s);
  return s;
}

const podsOf = (view: StoreView, ds: string): KubeObject[] =>
  view.list('Pod', 'kube-system').filter((p) => p.metadata.ownerReferences?.some((r) => r.name === ds));
const nodeOf = (p: KubeObject): string => String(asRecord(p['spec'])['nodeName']);
const templateOf = (ds: KubeObject): Record<string, unknown> => asRecord(asRecord(ds['spec'])['template']);

function setImage(view: StoreView, name: string, image: string): void {
  const ds = view.find('DaemonSet', 'kube-system', name) as KubeObject;
  const t = templateOf(ds);
  const spec = asRecord(t['spec']);
  const containers = [{ ...asRecord((spec['containers'] as unknown[])[0]), image }];
  view.update({ ...ds, spec: { ...asRecord(ds['spec']), template: { ...t, spec: { ...spec, containers } } } });
}

test('one pod per schedulable node, pinned there, labelled with the revision hash; status and events as kubectl reads them', async () => {
  const { view } = start([
    node('node-1', { role: 'mesh' }),
    node('node-2', { role: 'mesh' }, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]),
    node('node-3', { role: 'other' }),
  ]);
  view.create(daemonSet('agent', { podSpec: { nodeSelector: { role: 'mesh' } } }));
  const pods = await eventually(() => {
    const p = podsOf(view, 'agent');
    assert.equal(p.length, 1);
    return p;
  });
  const pod = pods[0] as KubeObject;
  // node-2's taint is not tolerated, node-3 does not match the selector.
  assert.equal(nodeOf(pod), 'node-1');
  assert.match(pod.metadata.name ?? '', /^agent-[a-z0-9]{5}$/);
  const ds = view.find('DaemonSet', 'kube-system', 'agent') as KubeObject;
  assert.deepEqual(pod.metadata.ownerReferences, [
    { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true, blockOwnerDeletion: true },
  ]);
  const hash = pod.metadata.labels?.['controller-revision-hash'];
  assert.equal(typeof hash, 'string');
  const spec = asRecord(pod['spec']);
  assert.deepEqual(asRecord(spec['affinity'])['nodeAffinity'], {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }],
    },
  });
  const tolerations = (spec['tolerations'] as unknown[]).map((t) => `${String(asRecord(t)['key'])}:${String(asRecord(t)['effect'])}`);
  assert.ok(tolerations.includes('node.kubernetes.io/unschedulable:NoSchedule'), tolerations.join(' '));
  assert.ok(tolerations.includes('node.kubernetes.io/not-ready:NoExecute'));
  // Defaults the API applies, which `kubectl rollout status ds` needs.
  assert.deepEqual(asRecord(ds['spec'])['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  assert.equal(asRecord(ds['spec'])['revisionHistoryLimit'], 10);
  await eventually(() => {
    const st = asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status']);
    assert.deepEqual(st, {
      currentNumberScheduled: 1,
      numberMisscheduled: 0,
      desiredNumberScheduled: 1,
      numberReady: 1,
      observedGeneration: 1,
      updatedNumberScheduled: 1,
      numberAvailable: 1,
    });
  });
  const revisions = view.list('ControllerRevision', 'kube-system');
  assert.deepEqual(
    revisions.map((r) => [r.metadata.name, r['revision']]),
    [[`agent-${hash}`, 1]],
  );
  const created = view.list('Event', 'kube-system').filter((e) => e['reason'] === 'SuccessfulCreate');
  assert.deepEqual(
    created.map((e) => [e['message'], asRecord(e['source'])['component'], asRecord(e['involvedObject'])['kind']]),
    [[`Created pod: ${pod.metadata.name}`, 'daemonset-controller', 'DaemonSet']],
  );

  // Tolerating the taint and widening the selector (matchExpressions) brings node-2 and node-3 in.
  const cur = view.find('DaemonSet', 'kube-system', 'agent') as KubeObject;
  const t = templateOf(cur);
  view.update({
    ...cur,
    spec: {
      ...asRecord(cur['spec']),
      template: {
        ...t,
        spec: {
          ...asRecord(t['spec']),
          nodeSelector: undefined,
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'In', values: ['mesh', 'other'] }] }],
              },
            },
          },
        },
      },
    },
  });
  await eventually(() => {
    const p = podsOf(view, 'agent').filter((x) => x.metadata.deletionTimestamp === undefined);
    assert.deepEqual(p.map(nodeOf).sort(), NODES);
    assert.ok(p.every((x) => x.metadata.labels?.['controller-revision-hash'] !== hash));
    const st = asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status']);
    assert.equal(st['desiredNumberScheduled'], 3);
    assert.equal(st['updatedNumberScheduled'], 3);
    assert.equal(st['numberAvailable'], 3);
  }, 10_000);

  // A node that stops matching loses its pod.
  const n3 = view.find('Node', undefined, 'node-3') as KubeObject;
  view.update({ ...n3, metadata: { ...n3.metadata, labels: { role: 'none' } } });
  await eventually(() => assert.deepEqual(podsOf(view, 'agent').map(nodeOf).sort(), ['node-1', 'node-2']));
  assert.ok(view.list('Event', 'kube-system').some((e) => e['reason'] === 'SuccessfulDelete'));
});

test('RollingUpdate with maxSurge 1, maxUnavailable 0: the new pod starts beside the old, which goes once the new is Ready', async () => {
  const sim = start();
  const { view } = sim;
  view.create(
    daemonSet('ztunnel', { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } }),
  );
  await eventually(() => assert.equal(asRecord(view.find('DaemonSet', 'kube-system', 'ztunnel')?.['status'])['numberAvailable'], 3));
  sim.trackGaps = true;
  const oldNames = new Set(podsOf(view, 'ztunnel').map((p) => p.metadata.name));
  // Hold every new pod not-ready: exactly one surges (maxSurge 1) and no old pod is deleted.
  const unsubscribe = view.onChange((e) => {
    if (e.type === 'ADDED' && e.object.kind === 'Pod' && !oldNames.has(e.object.metadata.name))
      sim.holdNotReady.add(e.object.metadata.name ?? '');
  });
  setImage(view, 'ztunnel', 'img:2');
  const surged = await eventually(() => {
    const fresh = podsOf(view, 'ztunnel').filter((p) => !oldNames.has(p.metadata.name));
    assert.equal(fresh.length, 1);
    return fresh[0] as KubeObject;
  });
  await eventually(() => assert.equal(asRecord(view.find('DaemonSet', 'kube-system', 'ztunnel')?.['status'])['observedGeneration'], 2));
  assert.equal(podsOf(view, 'ztunnel').length, 4);
  assert.equal(podsOf(view, 'ztunnel').filter((p) => nodeOf(p) === nodeOf(surged)).length, 2);
  unsubscribe();
  // Releasing readiness lets the rollout proceed node by node.
  sim.holdNotReady.clear();
  view.updateStatus({ ...(view.find('Pod', 'kube-system', surged.metadata.name ?? '') as KubeObject), status: {} });
  await eventually(() => {
    const pods = podsOf(view, 'ztunnel');
    assert.equal(pods.length, 3);
    assert.ok(pods.every((p) => !oldNames.has(p.metadata.name)));
    const st = asRecord(view.find('DaemonSet', 'kube-system', 'ztunnel')?.['status']);
    assert.equal(st['updatedNumberScheduled'], 3);
    assert.equal(st['numberAvailable'], 3);
  }, 10_000);
  // Every node had a serving pod at every change.
  assert.deepEqual(sim.readyGaps, []);
  assert.equal(view.list('ControllerRevision', 'kube-system').length, 2);
});

test('RollingUpdate with the default maxUnavailable 1 replaces one node at a time; OnDelete waits for the user', async () => {
  const sim = start();
  const { view } = sim;
  view.create(daemonSet('agent'));
  await eventually(() => assert.equal(asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status'])['numberAvailable'], 3));
  let maxMissing = 0;
  const unsubscribe = view.onChange(() => {
    const serving = new Set(
      podsOf(view, 'agent')
        .filter((p) => isReady(p) && p.metadata.deletionTimestamp === undefined)
        .map(nodeOf),
    );
    maxMissing = Math.max(maxMissing, NODES.filter((n) => !serving.has(n)).length);
  });
  setImage(view, 'agent', 'img:2');
  await eventually(() => {
    const st = asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status']);
    assert.equal(st['observedGeneration'], 2);
    assert.equal(st['updatedNumberScheduled'], 3);
    assert.equal(st['numberAvailable'], 3);
  }, 10_000);
  unsubscribe();
  assert.equal(maxMissing, 1);

  const ds = view.find('DaemonSet', 'kube-system', 'agent') as KubeObject;
  view.update({ ...ds, spec: { ...asRecord(ds['spec']), updateStrategy: { type: 'OnDelete' } } });
  setImage(view, 'agent', 'img:3');
  await eventually(() => {
    const st = asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status']);
    assert.equal(st['observedGeneration'], 4);
    assert.equal(st['updatedNumberScheduled'], 0);
  });
  const before = podsOf(view, 'agent');
  assert.equal(before.length, 3);
  const victim = before[0] as KubeObject;
  view.remove('Pod', 'kube-system', victim.metadata.name ?? '');
  await eventually(() => assert.equal(asRecord(view.find('DaemonSet', 'kube-system', 'agent')?.['status'])['updatedNumberScheduled'], 1));
  const images = podsOf(view, 'agent').map((p) => String(asRecord((asRecord(p['spec'])['containers'] as unknown[])[0])['image']));
  assert.deepEqual(images.sort(), ['img:2', 'img:2', 'img:3']);
});

test('rollingUpdateStep follows the real controller: unavailable old pods are replaced at once, the budget bounds the rest', () => {
  const pod = (name: string, hash: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'controller-revision-hash': hash } },
  });
  const byNode = new Map([
    ['a', [pod('a-old', 'h1')]],
    ['b', [pod('b-old', 'h1')]],
    ['c', [pod('c-old-broken', 'h1')]],
  ]);
  const available = (p: KubeObject): boolean => !(p.metadata.name ?? '').includes('broken');
  const noSurge = rollingUpdateStep({
    podsByNode: byNode,
    hash: 'h2',
    maxSurge: 0,
    maxUnavailable: 1,
    isAvailable: available,
    shouldRun: () => true,
  });
  assert.deepEqual(
    noSurge.deletePods.map((p) => p.metadata.name),
    ['c-old-broken'],
  );
  const surge = rollingUpdateStep({
    podsByNode: byNode,
    hash: 'h2',
    maxSurge: 1,
    maxUnavailable: 0,
    isAvailable: available,
    shouldRun: () => true,
  });
  assert.deepEqual(surge, { deletePods: [], createOnNodes: ['c', 'a'] });
  byNode.set('a', [pod('a-old', 'h1'), pod('a-new', 'h2')]);
  const done = rollingUpdateStep({
    podsByNode: byNode,
    hash: 'h2',
    maxSurge: 1,
    maxUnavailable: 0,
    isAvailable: available,
    shouldRun: () => true,
  });
  assert.deepEqual(
    { deletePods: done.deletePods.map((p) => p.metadata.name), createOnNodes: done.createOnNodes },
    { deletePods: ['a-old'], createOnNodes: ['c', 'b'] },
  );
});
