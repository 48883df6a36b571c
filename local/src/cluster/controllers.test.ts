import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { asRecord, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { ObjectStore } from '../store/object-store.ts';
import { gcStore, storeView } from '../runner/store-adapter.ts';
import { createAdmission } from './admission.ts';
import type { Controller } from './controller.ts';
import { startDeploymentController } from './deployment-controller.ts';
import { startEndpointSliceController } from './endpointslice-controller.ts';
import { startGarbageCollector } from './garbage-collector.ts';
import { startReplicaSetController } from './replicaset-controller.ts';
import { startServiceAccountController } from './serviceaccount-controller.ts';
import { computeRules } from './service-proxy-controller.ts';
import type { StoreView } from './store-view.ts';

const log = silentLogger();

function cluster(): { view: StoreView; store: ObjectStore; controllers: Controller[] } {
  const bound: { view?: StoreView } = {};
  const admit = createAdmission(() => bound.view as StoreView, ['node1', 'node2']);
  const store = new ObjectStore({ admission: [{ admit }], namespaces: ['default', 'demo'] });
  const view = storeView(store);
  bound.view = view;
  const controllers = [
    startServiceAccountController(view, log),
    startDeploymentController(view, log),
    startReplicaSetController(view, log),
    startEndpointSliceController(view, log),
    startGarbageCollector(gcStore(store), log),
  ];
  return { view, store, controllers };
}

const all: Controller[] = [];
after(async () => {
  await Promise.all(all.map((c) => c.stop()));
});

function deployment(name: string, replicas: number, labels: Record<string, string>, port = 8080): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'demo' },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', command: ['sleep', 'infinity'], ports: [{ name: 'http', containerPort: port }] }] },
      },
    },
  };
}

/** What the kubelet would write for a running, ready pod. */
function markRunning(view: StoreView, pod: KubeObject, ip: string, ready = true): void {
  const cur = view.find('Pod', pod.metadata.namespace, pod.metadata.name ?? '') as KubeObject;
  view.updateStatus({ ...cur, status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
}

test('a Deployment expands into a ReplicaSet and pods with pod-template-hash names and labels, spread over nodes', async () => {
  const { view, controllers } = cluster();
  all.push(...controllers);
  view.create(deployment('api-v1', 3, { app: 'api', version: 'v1' }));
  const pods = await eventually(() => {
    const p = view.list('Pod', 'demo');
    assert.equal(p.length, 3);
    return p;
  });
  const rs = view.list('ReplicaSet', 'demo');
  assert.equal(rs.length, 1);
  const hash = rs[0]?.metadata.labels?.['pod-template-hash'] ?? '';
  assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  for (const p of pods) {
    assert.match(p.metadata.name ?? '', new RegExp(`^api-v1-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
    assert.deepEqual(p.metadata.labels, { app: 'api', version: 'v1', 'pod-template-hash': hash });
    assert.equal(p.metadata.ownerReferences?.[0]?.kind, 'ReplicaSet');
    assert.equal(asRecord(p['spec'])['serviceAccountName'], 'default');
  }
  const nodes = pods.map((p) => asRecord(p['spec'])['nodeName']).sort();
  assert.deepEqual(new Set(nodes), new Set(['node1', 'node2']), 'round-robin uses both nodes');
});

test('scaling down deletes surplus pods; a template change rolls to a new ReplicaSet', async () => {
  const { view, controllers } = cluster();
  all.push(...controllers);
  view.create(deployment('web', 2, { app: 'web' }));
  await eventually(() => assert.equal(view.list('Pod', 'demo').length, 2));
  const d = view.find('Deployment', 'demo', 'web') as KubeObject;
  view.update({ ...d, spec: { ...asRecord(d['spec']), replicas: 1 } });
  // Pods on a node terminate gracefully: they get a deletionTimestamp and wait for the kubelet.
  await eventually(() => assert.equal(view.list('Pod', 'demo').filter((p) => p.metadata.deletionTimestamp === undefined).length, 1));
  const d2 = view.find('Deployment', 'demo', 'web') as KubeObject;
  const spec = structuredClone(asRecord(d2['spec']));
  asRecord(asRecord(spec['template'])['metadata'])['annotations'] = { rev: '2' };
  view.update({ ...d2, spec });
  // The default budget (25 % surge, 25 % unavailable) of 1 replica is one extra pod and none unavailable: the new
  // pod is added next to the old one, which goes only once the new one is ready.
  const fresh = await eventually(() => {
    const sets = view.list('ReplicaSet', 'demo');
    assert.equal(sets.length, 2);
    assert.deepEqual(sets.map((s) => asRecord(s['spec'])['replicas']).sort(), [1, 1]);
    const rs2 = sets.find((s) => s.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2');
    const pod = view.list('Pod', 'demo').find((p) => p.metadata.ownerReferences?.[0]?.name === rs2?.metadata.name);
    assert.ok(pod, 'the new ReplicaSet has its pod');
    return pod;
  });
  markRunning(view, fresh, '10.244.1.9');
  await eventually(() => {
    const sets = view.list('ReplicaSet', 'demo');
    assert.deepEqual(sets.map((s) => asRecord(s['spec'])['replicas']).sort(), [0, 1]);
  });
});

test('Services get a ClusterIP in 10.96.0.0/16; a taken IP and a changed IP are refused with the field named', () => {
  const { view, store, controllers } = cluster();
  all.push(...controllers);
  const a = view.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'demo' }, spec: { ports: [{ port: 80 }] } });
  const ip = asRecord(a['spec'])['clusterIP'];
  assert.match(String(ip), /^10\.96\.\d+\.\d+$/);
  assert.equal(asRecord((asRecord(a['spec'])['ports'] as unknown[])[0])['targetPort'], 80);
  assert.throws(
    () =>
      view.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'b', namespace: 'demo' },
        spec: { clusterIP: ip, ports: [{ port: 80 }] },
      }),
    (err: unknown) => err instanceof Error && /spec\.clusterIP/.test(JSON.stringify(err)) && /already allocated/.test(String(err)),
  );
  const cur = view.find('Service', 'demo', 'a') as KubeObject;
  assert.throws(() => view.update({ ...cur, spec: { ...asRecord(cur['spec']), clusterIP: '10.96.9.9' } }), /immutable/);
  assert.equal(store.list(store.typeOf({ apiVersion: 'v1', kind: 'Service' })).items.length, 1, 'the refused Service was not stored');
});

test('a pod naming an unknown node or an invalid field is refused at admission', () => {
  const { view, controllers } = cluster();
  all.push(...controllers);
  assert.throws(
    () =>
      view.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'x', namespace: 'demo' },
        spec: { nodeName: 'node9', containers: [{ name: 'c', command: ['true'] }] },
      }),
    /node "node9" does not exist/,
  );
  assert.throws(
    () => view.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'y', namespace: 'demo' }, spec: { containers: [{ name: 'c' }] } }),
    /spec\.containers\[0\]\.command/,
  );
});

test('EndpointSlices follow pods: named target ports resolved per pod, not-ready and terminating pods not ready', async () => {
  const { view, controllers } = cluster();
  all.push(...controllers);
  view.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'api', namespace: 'demo' },
    spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
  view.create(deployment('api-v1', 1, { app: 'api', version: 'v1' }, 8080));
  view.create(deployment('api-v2', 1, { app: 'api', version: 'v2' }, 9090));
  const pods = await eventually(() => {
    const p = view.list('Pod', 'demo');
    assert.equal(p.length, 2);
    return p;
  });
  const [p1, p2] = pods as [KubeObject, KubeObject];
  markRunning(view, p1, '10.244.1.5');
  markRunning(view, p2, '10.244.2.5', false);
  await eventually(() => {
    const rules = computeRules(view);
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.endpoints.length, 1, 'only the ready pod serves');
    const slices = view.list('EndpointSlice', 'demo');
    assert.equal(slices.length, 2, 'two port mappings (8080 and 9090) → two slices');
    const ports = slices.map((s) => asRecord((s['ports'] as unknown[])[0])['port']).sort();
    assert.deepEqual(ports, [8080, 9090]);
  });
  const port1 = p1.metadata.labels?.['version'] === 'v1' ? 8080 : 9090;
  assert.deepEqual(computeRules(view)[0]?.endpoints, [{ ip: '10.244.1.5', port: port1 }]);
  view.remove('Pod', 'demo', p1.metadata.name ?? '');
  await eventually(() => {
    const eps = view.list('EndpointSlice', 'demo').flatMap((s) => (s['endpoints'] as unknown[]).map(asRecord));
    const e1 = eps.find((e) => (e['addresses'] as string[])[0] === '10.244.1.5');
    assert.deepEqual(e1?.['conditions'], { ready: false, serving: true, terminating: true });
    assert.equal(computeRules(view)[0]?.endpoints.length, 0);
  });
});

test('every namespace gets its default ServiceAccount', async () => {
  const { view, controllers } = cluster();
  all.push(...controllers);
  view.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'extra' } });
  await eventually(() => {
    assert.ok(view.find('ServiceAccount', 'extra', 'default'), 'extra/default exists');
    assert.ok(view.find('ServiceAccount', 'demo', 'default'), 'demo/default exists');
  });
});

test('garbage collector: an object whose every owner is gone is deleted; one with a live owner, or an unknown owner kind, stays', async () => {
  const { store, controllers } = cluster();
  all.push(...controllers);
  const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
  const owner = store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: 'demo' } });
  const ref = (name: string, uid: string, kind = 'ConfigMap', apiVersion = 'v1') => [{ apiVersion, kind, name, uid, controller: true }];
  const cm = (name: string, ownerReferences: ReturnType<typeof ref>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'demo', ownerReferences },
  });
  // Created after its owner was deleted (the race a controller creating owned objects can lose).
  store.create(cm('late', ref('gone', 'uid-of-a-deleted-owner')));
  // The owner's name exists, but it is another object now (a different UID).
  store.create(cm('renamed', ref('owner', 'uid-of-an-earlier-owner')));
  store.create(cm('kept', ref('owner', owner.metadata.uid ?? '')));
  store.create(cm('crd-owned', ref('w', 'u', 'Widget', 'example.com/v1')));
  await eventually(() => {
    assert.equal(store.find(cms, 'demo', 'late'), undefined, 'dangling owner: deleted');
    assert.equal(store.find(cms, 'demo', 'renamed'), undefined, 'owner UID mismatch: deleted');
  }, 5000);
  assert.ok(store.find(cms, 'demo', 'kept') !== undefined, 'a live owner keeps it');
  assert.ok(store.find(cms, 'demo', 'crd-owned') !== undefined, 'an owner kind the store does not serve is assumed alive');
  // And the store's own cascade still removes dependents with their owner.
  store.delete(cms, 'demo', 'owner');
  assert.equal(store.find(cms, 'demo', 'kept'), undefined);
});
