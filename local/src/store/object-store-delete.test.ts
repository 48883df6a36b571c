import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { ObjectStore, type StoreEvent } from './object-store.ts';

const T0 = new Date('2025-01-01T00:00:00Z');

function setup(): { store: ObjectStore; events: StoreEvent[]; pods: ResourceType; cms: ResourceType; nss: ResourceType } {
  const store = new ObjectStore({ now: () => T0 });
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return {
    store,
    events,
    pods: store.typeOf({ apiVersion: 'v1', kind: 'Pod' }),
    cms: store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' }),
    nss: store.typeOf({ apiVersion: 'v1', kind: 'Namespace' }),
  };
}

function pod(name: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...meta },
    spec: { containers: [{ name: 'c', image: 'i' }], ...spec },
  };
}

function cm(name: string, meta: Record<string, unknown> = {}, namespace = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...meta } };
}

const kinds = (events: StoreEvent[]): string[] => events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.name ?? ''}`);

void describe('object store: deletion', () => {
  void it('removes unscheduled pods at once', () => {
    const { store, events, pods } = setup();
    store.create(pod('p'));
    const gone = store.delete(pods, 'default', 'p');
    assert.equal(gone.metadata.name, 'p');
    assert.equal(store.find(pods, 'default', 'p'), undefined);
    assert.deepEqual(kinds(events), ['ADDED Pod p', 'DELETED Pod p']);
  });

  void it('deletes scheduled pods gracefully, then for good on a grace-0 delete', () => {
    const { store, events, pods } = setup();
    store.create(pod('p', { nodeName: 'node-1', terminationGracePeriodSeconds: 10 }));
    const marked = store.delete(pods, 'default', 'p');
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 10);
    assert.equal(marked.metadata.deletionTimestamp, '2025-01-01T00:00:10Z');
    assert.ok(store.find(pods, 'default', 'p') !== undefined);
    // A second delete with a longer grace does not extend it; a shorter one shortens it.
    assert.equal(store.delete(pods, 'default', 'p', { gracePeriodSeconds: 60 }).metadata.deletionGracePeriodSeconds, 10);
    assert.equal(store.delete(pods, 'default', 'p', { gracePeriodSeconds: 5 }).metadata.deletionGracePeriodSeconds, 5);
    store.delete(pods, 'default', 'p', { gracePeriodSeconds: 0 });
    assert.equal(store.find(pods, 'default', 'p'), undefined);
    assert.deepEqual(kinds(events), ['ADDED Pod p', 'MODIFIED Pod p', 'MODIFIED Pod p', 'DELETED Pod p']);
  });

  void it('uses 30s when the pod names no grace period', () => {
    const { store, pods } = setup();
    store.create(pod('p', { nodeName: 'node-1' }));
    assert.equal(store.delete(pods, 'default', 'p').metadata.deletionGracePeriodSeconds, 30);
  });

  void it('keeps objects with finalizers until an update empties them', () => {
    const { store, events, cms } = setup();
    store.create(cm('c', { finalizers: ['example.com/hold'] }));
    const marked = store.delete(cms, 'default', 'c');
    assert.ok(marked.metadata.deletionTimestamp !== undefined);
    assert.equal(store.delete(cms, 'default', 'c').metadata.resourceVersion, marked.metadata.resourceVersion, 'repeat delete is a no-op');
    const cur = store.get(cms, 'default', 'c');
    store.update({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
    assert.equal(store.find(cms, 'default', 'c'), undefined);
    assert.deepEqual(kinds(events), ['ADDED ConfigMap c', 'MODIFIED ConfigMap c', 'DELETED ConfigMap c']);
  });

  void it('checks delete preconditions', () => {
    const { store, cms } = setup();
    store.create(cm('c'));
    assert.throws(
      () => store.delete(cms, 'default', 'c', { preconditions: { uid: 'x' } }),
      (e: unknown) => e instanceof ApiError && e.status === 409,
    );
  });

  void it('empties a namespace, then removes it once its pods are gone', () => {
    const { store, events, pods, nss } = setup();
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app' } });
    store.create(cm('c', {}, 'app'));
    store.create(pod('p', { nodeName: 'node-1' }, {}, 'app'));
    events.length = 0;
    const ns = store.delete(nss, undefined, 'app');
    assert.ok(ns.metadata.deletionTimestamp !== undefined);
    assert.equal((ns['status'] as { phase: string }).phase, 'Terminating');
    assert.equal((store.get(nss, undefined, 'app')['status'] as { phase: string }).phase, 'Terminating');
    assert.throws(
      () => store.create(cm('d', {}, 'app')),
      (e: unknown) => e instanceof ApiError && e.status === 403 && /being terminated/.test(e.message),
    );
    assert.ok(store.get(pods, 'app', 'p').metadata.deletionTimestamp !== undefined, 'pod is terminating');
    store.delete(pods, 'app', 'p', { gracePeriodSeconds: 0 });
    assert.equal(store.find(nss, undefined, 'app'), undefined);
    assert.deepEqual(kinds(events), [
      'MODIFIED Namespace app',
      'DELETED ConfigMap c',
      'MODIFIED Pod p',
      'DELETED Pod p',
      'DELETED Namespace app',
    ]);
  });

  void it('removes an empty namespace at once and refuses to delete default', () => {
    const { store, nss } = setup();
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'empty' } });
    store.delete(nss, undefined, 'empty');
    assert.equal(store.find(nss, undefined, 'empty'), undefined);
    assert.throws(
      () => store.delete(nss, undefined, 'default'),
      (e: unknown) => e instanceof ApiError && e.status === 403,
    );
  });

  void it('cascades to dependents named by ownerReferences, transitively', () => {
    const { store, events, cms } = setup();
    const deploy = store.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'default' }, spec: {} });
    const ref = (o: KubeObject) => [
      { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name ?? '', uid: o.metadata.uid ?? '', controller: true },
    ];
    const rs = store.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'd-1', namespace: 'default', ownerReferences: ref(deploy) },
      spec: {},
    });
    store.create(pod('d-1-a', {}, { ownerReferences: ref(rs) }));
    store.create(cm('unrelated'));
    events.length = 0;
    store.delete(store.typeOf(deploy), 'default', 'd');
    assert.deepEqual(kinds(events), ['DELETED Deployment d', 'DELETED ReplicaSet d-1', 'DELETED Pod d-1-a']);
    assert.ok(store.find(cms, 'default', 'unrelated') !== undefined);
  });

  void it('orphans dependents with propagationPolicy Orphan', () => {
    const { store, pods } = setup();
    const owner = store.create(cm('owner'));
    store.create(
      pod('dep', {}, { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' }] }),
    );
    store.delete(store.typeOf(owner), 'default', 'owner', { propagationPolicy: 'Orphan' });
    assert.equal(store.get(pods, 'default', 'dep').metadata.ownerReferences, undefined);
  });
});

void describe('object store: CRDs and registered kinds', () => {
  const crd: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
      versions: [
        { name: 'v1', served: true, storage: true, subresources: { status: {} } },
        { name: 'v1beta1', served: true, storage: false },
      ],
    },
  };

  void it('serves a CRD’s resource once created, establishes it, and drops it with the CRD', () => {
    const { store } = setup();
    const created = store.create(crd);
    const conditions = (created['status'] as { conditions: Array<{ type: string; status: string }> }).conditions;
    assert.ok(conditions.some((c) => c.type === 'Established' && c.status === 'True'));
    const t = store.types.byResource('example.com', 'v1', 'widgets');
    assert.ok(t !== undefined && t.hasStatus && t.namespaced);
    assert.equal(store.types.byShortName('wd')?.kind, 'Widget');
    store.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });
    const beta = store.types.byResource('example.com', 'v1beta1', 'widgets');
    assert.ok(beta !== undefined);
    assert.equal(store.get(beta, 'default', 'w').apiVersion, 'example.com/v1beta1', 'versions share storage');
    store.delete(store.typeOf(crd), undefined, 'widgets.example.com');
    assert.equal(store.types.byResource('example.com', 'v1', 'widgets'), undefined);
    assert.throws(
      () => store.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w2' } }),
      (e: unknown) => e instanceof ApiError && e.status === 404,
    );
  });

  void it('refuses a CRD whose name is not plural.group', () => {
    const { store } = setup();
    assert.throws(
      () => store.create({ ...crd, metadata: { name: 'widgets' } }),
      (e: unknown) => e instanceof ApiError && e.status === 422,
    );
  });

  void it('registers unknown kinds on the fly', () => {
    const { store } = setup();
    const t = store.registerKind('policy.example.com/v1', 'AccessPolicy', true);
    assert.equal(t.plural, 'accesspolicies');
    store.create({ apiVersion: 'policy.example.com/v1', kind: 'AccessPolicy', metadata: { name: 'a' } });
    assert.equal(store.list(t).items.length, 1);
  });
});
