import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { ObjectStore, type StoreEvent } from './object-store.ts';

function typeOf(store: ObjectStore, apiVersion: string, kind: string): ResourceType {
  return store.typeOf({ apiVersion, kind });
}

function pod(name: string, extra: Record<string, unknown> = {}, namespace = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'c', image: 'i' }] }, ...extra };
}

function rejects(fn: () => unknown, status: number, reason: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.reason, reason);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

function recorder(store: ObjectStore): StoreEvent[] {
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return events;
}

void describe('object store: create, get, update', () => {
  void it('stamps metadata and a global, increasing resourceVersion', () => {
    const store = new ObjectStore();
    const before = Number(store.resourceVersion);
    const a = store.create(pod('a'));
    const b = store.create(pod('b'));
    assert.match(a.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(a.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(a.metadata.generation, 1);
    assert.equal(Number(a.metadata.resourceVersion), before + 1);
    assert.equal(Number(b.metadata.resourceVersion), before + 2);
    assert.equal(store.resourceVersion, b.metadata.resourceVersion);
    assert.equal((store.get(typeOf(store, 'v1', 'Pod'), 'default', 'a')['status'] as { phase: string }).phase, 'Pending');
  });

  void it('returns copies: changing a result does not change the store', () => {
    const store = new ObjectStore();
    const a = store.create(pod('a'));
    a.metadata.labels = { x: 'y' };
    assert.equal(store.get(typeOf(store, 'v1', 'Pod'), 'default', 'a').metadata.labels, undefined);
  });

  void it('generates names from generateName', () => {
    const store = new ObjectStore();
    const o = store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'cfg-' } });
    assert.match(o.metadata.name ?? '', /^cfg-[a-z0-9]{5}$/);
  });

  const invalid: Array<[string, KubeObject, number, string, RegExp]> = [
    [
      'upper-case name',
      pod('Web'),
      422,
      'Invalid',
      /Pod "Web" is invalid: metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain/,
    ],
    ['too long name', pod('a'.repeat(254)), 422, 'Invalid', /must be no more than 253 characters/],
    ['missing name', { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }, 422, 'Invalid', /name or generateName is required/],
    ['dotted namespace name', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }, 422, 'Invalid', /RFC 1123 label/],
    ['missing namespace', pod('a', {}, 'nope'), 404, 'NotFound', /^namespaces "nope" not found$/],
    ['unknown kind', { apiVersion: 'x/v1', kind: 'Thing', metadata: { name: 'a' } }, 404, 'NotFound', /no matches for kind "Thing"/],
  ];
  for (const [what, obj, status, reason, message] of invalid) {
    void it(`refuses ${what}`, () => rejects(() => new ObjectStore().create(obj), status, reason, message));
  }

  void it('refuses duplicates with AlreadyExists', () => {
    const store = new ObjectStore();
    store.create(pod('web-1'));
    rejects(() => store.create(pod('web-1')), 409, 'AlreadyExists', /^pods "web-1" already exists$/);
  });

  void it('phrases NotFound like the real server, with the group', () => {
    const store = new ObjectStore();
    rejects(() => store.get(typeOf(store, 'v1', 'Pod'), 'default', 'web-1'), 404, 'NotFound', /^pods "web-1" not found$/);
    rejects(() => store.get(typeOf(store, 'apps/v1', 'Deployment'), 'default', 'x'), 404, 'NotFound', /^deployments.apps "x" not found$/);
  });

  void it('enforces optimistic concurrency when a resourceVersion is sent', () => {
    const store = new ObjectStore();
    const a = store.create(pod('a'));
    const updated = store.update({ ...a, metadata: { ...a.metadata, labels: { v: '1' } } });
    rejects(() => store.update({ ...a, metadata: { ...a.metadata, labels: { v: '2' } } }), 409, 'Conflict', /the object has been modified/);
    // Without a resourceVersion the update is unconditional.
    const { resourceVersion: _rv, ...meta } = updated.metadata;
    const again = store.update({ ...updated, metadata: { ...meta, labels: { v: '3' } } });
    assert.equal(again.metadata.labels?.['v'], '3');
  });

  void it('keeps uid immutable and server metadata from the stored object', () => {
    const store = new ObjectStore();
    const a = store.create(pod('a'));
    rejects(() => store.update({ ...a, metadata: { ...a.metadata, uid: 'other' } }), 422, 'Invalid', /metadata.uid/);
    const u = store.update({ ...a, metadata: { name: 'a', namespace: 'default', creationTimestamp: '2000-01-01T00:00:00Z' } });
    assert.equal(u.metadata.creationTimestamp, a.metadata.creationTimestamp);
    assert.equal(u.metadata.uid, a.metadata.uid);
  });

  void it('separates the status subresource from the main resource', () => {
    const store = new ObjectStore();
    const t = typeOf(store, 'v1', 'Pod');
    const a = store.create(pod('a'));
    const main = store.update({ ...a, status: { phase: 'Running' }, metadata: { ...a.metadata, labels: { l: '1' } } });
    assert.equal((main['status'] as { phase: string }).phase, 'Pending', 'main update keeps the stored status');
    assert.equal(main.metadata.labels?.['l'], '1');
    const st = store.update(
      { ...main, spec: { containers: [] }, metadata: { ...main.metadata, labels: {} }, status: { phase: 'Running' } },
      { subresource: 'status' },
    );
    assert.equal((st['status'] as { phase: string }).phase, 'Running');
    assert.deepEqual(st.metadata.labels, { l: '1' }, 'status update keeps metadata');
    assert.equal((st['spec'] as { containers: unknown[] }).containers.length, 1, 'status update keeps spec');
    const cm = store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
    rejects(() => store.update(cm, { subresource: 'status' }), 404, 'NotFound');
    assert.equal(store.get(t, 'default', 'a').metadata.resourceVersion, st.metadata.resourceVersion);
  });

  void it('bumps generation only when something outside metadata and status changes', () => {
    const store = new ObjectStore();
    const a = store.create(pod('a'));
    const labelled = store.update({ ...a, metadata: { ...a.metadata, labels: { x: '1' } } });
    assert.equal(labelled.metadata.generation, 1);
    const status = store.update({ ...labelled, status: { phase: 'Running' } }, { subresource: 'status' });
    assert.equal(status.metadata.generation, 1);
    const spec = store.update({ ...status, spec: { containers: [{ name: 'c', image: 'j' }] } });
    assert.equal(spec.metadata.generation, 2);
  });

  void it('does not write no-op updates', () => {
    const store = new ObjectStore();
    const a = store.create(pod('a'));
    const events = recorder(store);
    const same = store.update(a);
    assert.equal(same.metadata.resourceVersion, a.metadata.resourceVersion);
    assert.equal(events.length, 0);
  });

  void it('applies merge patches, to the main resource or to status', () => {
    const store = new ObjectStore();
    const t = typeOf(store, 'v1', 'Pod');
    store.create(pod('a', { metadata: { name: 'a', namespace: 'default', labels: { keep: '1', drop: '1' } } }));
    const p = store.patch(
      t,
      'default',
      'a',
      { metadata: { labels: { drop: null, add: '2' } }, status: { phase: 'Running' } },
      { patchType: 'merge' },
    );
    assert.deepEqual(p.metadata.labels, { keep: '1', add: '2' });
    assert.equal((p['status'] as { phase: string }).phase, 'Pending');
    const s = store.patch(t, 'default', 'a', { status: { podIP: '10.0.0.1' } }, { patchType: 'merge', subresource: 'status' });
    assert.deepEqual(s['status'], { phase: 'Pending', podIP: '10.0.0.1' });
    rejects(() => store.patch(t, 'default', 'a', { metadata: { name: 'b' } }, { patchType: 'merge' }), 422, 'Invalid', /immutable/);
    rejects(() => store.patch(t, 'default', 'a', { metadata: { resourceVersion: '1' } }, { patchType: 'merge' }), 409, 'Conflict');
  });

  void it('dry runs validate and return without persisting or emitting', () => {
    const store = new ObjectStore();
    const events = recorder(store);
    const rv = store.resourceVersion;
    const out = store.create(pod('dry'), { dryRun: true });
    assert.equal(out.metadata.name, 'dry');
    assert.equal(store.find(typeOf(store, 'v1', 'Pod'), 'default', 'dry'), undefined);
    assert.equal(store.resourceVersion, rv);
    assert.equal(events.length, 0);
    rejects(() => store.create(pod('Bad'), { dryRun: true }), 422, 'Invalid');
  });

  void it('runs admission plugins after defaulting and commits their mutations', () => {
    const seen: string[] = [];
    const store = new ObjectStore({
      admission: [
        {
          admit(op, obj, old) {
            seen.push(`${op} ${obj.kind} ${obj.metadata.uid === undefined ? 'no-uid' : 'uid'} ${old === undefined ? '' : 'old'}`.trim());
            if (obj.kind === 'Service' && op === 'CREATE') obj['spec'] = { clusterIP: '10.96.0.10' };
            if (obj.metadata.labels?.['deny'] === 'yes')
              throw ApiError.invalid(store.typeOf(obj), obj.metadata.name ?? '', [{ field: 'metadata.labels', message: 'denied' }]);
          },
        },
      ],
      namespaces: ['default'],
    });
    const svc = store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } });
    assert.deepEqual(svc['spec'], { clusterIP: '10.96.0.10' });
    store.update({ ...svc, metadata: { ...svc.metadata, labels: { a: 'b' } } });
    rejects(
      () => store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { deny: 'yes' } } }),
      422,
      'Invalid',
      /denied/,
    );
    assert.deepEqual(seen.slice(0, 3), ['CREATE Namespace uid', 'CREATE Service uid', 'UPDATE Service uid old']);
  });

  void it('lists with selectors, per namespace or across all', () => {
    const store = new ObjectStore();
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    store.create(pod('a', { metadata: { name: 'a', namespace: 'default', labels: { app: 'x' } } }));
    store.create(pod('b', { spec: { nodeName: 'n1' } }));
    store.create(pod('c', {}, 'other'));
    const t = typeOf(store, 'v1', 'Pod');
    const names = (o: { namespace?: string; labelSelector?: string; fieldSelector?: string }): string[] =>
      store.list(t, o).items.map((p) => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`);
    assert.deepEqual(names({}), ['default/a', 'default/b', 'other/c']);
    assert.deepEqual(names({ namespace: 'other' }), ['other/c']);
    assert.deepEqual(names({ labelSelector: 'app=x' }), ['default/a']);
    assert.deepEqual(names({ fieldSelector: 'spec.nodeName=n1' }), ['default/b']);
    assert.deepEqual(names({ fieldSelector: 'metadata.namespace!=default' }), ['other/c']);
    const list = store.list(t);
    assert.equal(list.resourceVersion, store.resourceVersion);
    assert.equal(list.items[0]?.apiVersion, 'v1');
    rejects(() => store.list(t, { labelSelector: 'a in (' }), 400, 'BadRequest');
  });
});
