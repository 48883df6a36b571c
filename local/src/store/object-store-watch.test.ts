import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, WatchEvent } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { ObjectStore, type StoreEvent } from './object-store.ts';

function cm(name: string, labels: Record<string, string> = {}, namespace = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: {} };
}

const show = (events: readonly WatchEvent[]): string[] => events.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`);

void describe('object store: watch', () => {
  void it('delivers changes from now, filtered by type and namespace', () => {
    const store = new ObjectStore();
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    const seen: WatchEvent[] = [];
    const w = store.watch(cms, { namespace: 'default' }, (e) => seen.push(e));
    store.create(cm('a'));
    store.create(cm('b', {}, 'other'));
    store.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } });
    store.update({ ...store.get(cms, 'default', 'a'), data: { k: 'v' } });
    store.delete(cms, 'default', 'a');
    w.stop();
    store.create(cm('c'));
    assert.deepEqual(show(seen), ['ADDED a', 'MODIFIED a', 'DELETED a']);
    assert.ok(
      Number(seen[2]?.object.metadata.resourceVersion) > Number(seen[1]?.object.metadata.resourceVersion),
      'DELETED carries a new rv',
    );
  });

  void it('replays changes after a resourceVersion, then continues live', () => {
    const store = new ObjectStore();
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    store.create(cm('a'));
    const from = store.resourceVersion;
    store.create(cm('b'));
    store.delete(cms, 'default', 'a');
    const seen: WatchEvent[] = [];
    const w = store.watch(cms, { resourceVersion: from }, (e) => seen.push(e));
    assert.deepEqual(show(seen), ['ADDED b', 'DELETED a']);
    store.create(cm('c'));
    w.stop();
    assert.deepEqual(show(seen), ['ADDED b', 'DELETED a', 'ADDED c']);
  });

  void it('answers 410 Expired for a resourceVersion older than the history', () => {
    const store = new ObjectStore({ historyLimit: 3, namespaces: ['default'] });
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    const start = store.resourceVersion;
    for (const n of ['a', 'b', 'c', 'd', 'e']) store.create(cm(n));
    assert.throws(
      () => store.watch(cms, { resourceVersion: start }, () => undefined),
      (e: unknown) => e instanceof ApiError && e.status === 410 && e.reason === 'Expired' && /too old resource version/.test(e.message),
    );
    // The newest three events are still there: rv of 'b' (start+2) is the oldest resumable point.
    const seen: WatchEvent[] = [];
    store.watch(cms, { resourceVersion: String(Number(start) + 2) }, (e) => seen.push(e)).stop();
    assert.deepEqual(show(seen), ['ADDED c', 'ADDED d', 'ADDED e']);
    assert.throws(
      () => store.watch(cms, { resourceVersion: 'abc' }, () => undefined),
      (e: unknown) => e instanceof ApiError && e.status === 400,
    );
  });

  void it('turns selector transitions into ADDED and DELETED for that watch', () => {
    const store = new ObjectStore();
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    const seen: WatchEvent[] = [];
    store.watch(cms, { labelSelector: 'app=web' }, (e) => seen.push(e));
    const a = store.create(cm('a', { app: 'db' }));
    const b = store.update({ ...a, metadata: { ...a.metadata, labels: { app: 'web' } } });
    const c = store.update({ ...b, data: { x: '1' } });
    const d = store.update({ ...c, metadata: { ...c.metadata, labels: { app: 'db' } } });
    store.update({ ...d, data: { x: '2' } });
    assert.deepEqual(show(seen), ['ADDED a', 'MODIFIED a', 'DELETED a']);
    assert.equal(seen[2]?.object.metadata.labels?.['app'], 'web', 'DELETED shows the last matching state');
    assert.equal(seen[2]?.object.metadata.resourceVersion, d.metadata.resourceVersion);
  });

  void it('queues writes made by a listener behind the current event', () => {
    const store = new ObjectStore();
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    const order: string[] = [];
    store.subscribe((e) => {
      order.push(`sub ${e.type} ${e.object.metadata.name ?? ''}`);
      if (e.object.metadata.name === 'a' && e.type === 'ADDED') store.create(cm('from-listener'));
    });
    store.watch(cms, {}, (e) => order.push(`watch ${e.type} ${e.object.metadata.name ?? ''}`));
    store.create(cm('a'));
    assert.deepEqual(order, ['sub ADDED a', 'watch ADDED a', 'sub ADDED from-listener', 'watch ADDED from-listener']);
  });
});

void describe('object store: transactions', () => {
  void it('rolls back every change and emits nothing when the function throws', () => {
    const store = new ObjectStore();
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    store.create(cm('keep', { v: '1' }));
    const before = store.list(cms);
    const rv = store.resourceVersion;
    const events: StoreEvent[] = [];
    store.subscribe((e) => events.push(e));
    const watched: WatchEvent[] = [];
    store.watch(cms, {}, (e) => watched.push(e));
    assert.throws(() =>
      store.transaction(() => {
        store.create(cm('new'));
        store.update({ ...store.get(cms, 'default', 'keep'), metadata: { name: 'keep', namespace: 'default', labels: { v: '2' } } });
        store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tx' } });
        store.registerKind('x.example.com/v1', 'Thing', true);
        store.create(cm('keep')); // AlreadyExists: the whole transaction fails
      }),
    );
    assert.equal(store.resourceVersion, rv);
    assert.deepEqual(store.list(cms), before);
    assert.equal(store.find(store.typeOf({ apiVersion: 'v1', kind: 'Namespace' }), undefined, 'tx'), undefined);
    assert.equal(store.types.byKind('x.example.com/v1', 'Thing'), undefined);
    assert.deepEqual(events, []);
    assert.deepEqual(watched, []);
  });

  void it('delivers buffered events in order on success', () => {
    const store = new ObjectStore();
    const events: StoreEvent[] = [];
    store.subscribe((e) => events.push(e));
    store.transaction(() => {
      store.create(cm('a'));
      assert.equal(events.length, 0, 'nothing delivered inside the transaction');
      store.create(cm('b'));
    });
    assert.deepEqual(
      events.map((e) => e.object.metadata.name),
      ['a', 'b'],
    );
  });

  void it('rolls back a nested transaction to its own start', () => {
    const store = new ObjectStore();
    const cms = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
    store.transaction(() => {
      store.create(cm('outer'));
      assert.throws(() =>
        store.transaction(() => {
          store.create(cm('inner'));
          throw new Error('inner fails');
        }),
      );
    });
    assert.deepEqual(
      store.list(cms).items.map((o) => o.metadata.name),
      ['outer'],
    );
  });
});
