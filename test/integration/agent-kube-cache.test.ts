// The node agent's view of the API (cni/src/agent/kube-cache.ts over @ambit/core/kube's client-node informer) against
// the local cluster's API server: list then watch, the field selector, a dropped watch resumed, a 410 relisting and
// reporting what changed meanwhile (a pod re-created under its name included), an API that is not there yet, objects
// that do not parse, stop; and the CNI path's look-ups answered from it.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KubeClient, watchedKind } from '@ambit/core/kube';
import { startKubeCache, type KubeCache } from '../../cni/src/agent/kube-cache.ts';
import { parseNamespace, parsePod, type NamespaceInfo, type PodInfo } from '../../cni/src/agent/kube-objects.ts';
import { createPodLookup, PodLookupError } from '../../cni/src/agent/pod-lookup.ts';
import { testLogger } from '../../cni/testing/agent-harness.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { Objects, podObject } from './helpers/agent-harness.ts';
import { LocalApi } from './helpers/local-api.ts';

const BACKOFF = { initialMs: 20, maxMs: 200 };

interface Setup {
  readonly api: LocalApi;
  readonly objects: Objects;
}

/** An API on a store whose watch history keeps `historyLimit` events (a resume from further back gets 410). */
async function setUp(t: TestContext, historyLimit = 50, start = true): Promise<Setup> {
  const store = new ObjectStore({ namespaces: ['default'], historyLimit });
  const api = new LocalApi(store);
  if (start) await api.start();
  t.after(() => api.stop());
  return { api, objects: new Objects(store) };
}

interface Common {
  readonly kc: KubeConfig;
  readonly client: KubeClient;
  readonly log: Logger;
  readonly backoff: typeof BACKOFF;
}

/** A cache whose changes are recorded as `+key`, `~key` (update) and `-key`; stopped after the test. */
function cacheOf<T>(t: TestContext, api: LocalApi, make: (common: Common) => KubeCache<T>): { cache: KubeCache<T>; changes: string[] } {
  const kc = api.kubeConfig();
  const cache = make({ kc, client: new KubeClient(kc), log: testLogger(), backoff: BACKOFF });
  const changes: string[] = [];
  cache.subscribe({
    onChange: (key, current, previous) => changes.push(`${current === undefined ? '-' : previous === undefined ? '+' : '~'}${key}`),
  });
  t.after(() => cache.stop());
  return { cache, changes };
}

function namespaces(t: TestContext, api: LocalApi): { cache: KubeCache<NamespaceInfo>; changes: string[] } {
  return cacheOf(t, api, (common) =>
    startKubeCache({ ...common, kind: watchedKind('v1', 'Namespace', 'namespaces'), parse: parseNamespace, keyOf: (ns) => ns.name }),
  );
}

function pods(t: TestContext, api: LocalApi): { cache: KubeCache<PodInfo>; changes: string[] } {
  return cacheOf(t, api, (common) =>
    startKubeCache({ ...common, kind: watchedKind('v1', 'Pod', 'pods', 'spec.nodeName=node1'), parse: parsePod, keyOf: (pod) => pod.uid }),
  );
}

test('lists, then watches: adds, updates and deletes reach the cache and its subscribers; synced once, after the list', async (t) => {
  const { api, objects } = await setUp(t);
  objects.namespace('a');
  objects.namespace('b');
  let synced = 0;
  const { cache, changes } = namespaces(t, api);
  cache.subscribe({ onSynced: () => synced++ });
  assert.equal(cache.synced(), false);
  await eventually(() => assert.ok(cache.synced()));
  assert.equal(synced, 1);
  assert.deepEqual(changes.sort(), ['+a', '+b', '+default']);
  objects.namespace('c');
  objects.namespace('a', { team: 'x' });
  api.store.delete(api.store.typeOf({ apiVersion: 'v1', kind: 'Namespace' }), undefined, 'b');
  // A namespace is first marked Terminating (an update), then goes.
  await eventually(() => assert.deepEqual(changes.slice(3), ['+c', '~a', '~b', '-b']));
  assert.equal(cache.get('a')?.labels['team'], 'x');
  assert.equal(cache.find('', 'a')?.name, 'a');
  assert.deepEqual(
    cache
      .values()
      .map((ns) => ns.name)
      .sort(),
    ['a', 'c', 'default'],
  );
  assert.equal(cache.stats().lists, 1);
});

test('the field selector holds: pods of other nodes are never seen, a pod that stops matching is a deletion', async (t) => {
  const { api, objects } = await setUp(t);
  const here = objects.pod({ name: 'here', namespace: 'default' });
  objects.pod({ name: 'there', namespace: 'default', nodeName: 'node2' });
  const { cache, changes } = pods(t, api);
  await eventually(() => assert.ok(cache.synced()));
  assert.deepEqual(changes, [`+${here}`]);
  assert.equal(cache.find('default', 'there'), undefined);
  const added = objects.pod({ name: 'new', namespace: 'default' });
  objects.deletePod('default', 'here');
  await eventually(() => assert.deepEqual(changes, [`+${here}`, `+${added}`, `-${here}`]));
  assert.equal(cache.get(here), undefined);
});

test('a dropped watch resumes from its version without a relist', async (t) => {
  const { api, objects } = await setUp(t);
  objects.namespace('a');
  const { cache, changes } = namespaces(t, api);
  await eventually(() => assert.ok(cache.synced()));
  await api.restart(() => objects.namespace('while-away'));
  await eventually(() => assert.ok(changes.includes('+while-away')));
  assert.equal(cache.stats().lists, 1, 'within the history the watch resumed');
});

test('a 410 relists, and what changed meanwhile is reported, a pod re-created under its name as a new uid', async (t) => {
  const { api, objects } = await setUp(t, 5);
  const stays = objects.pod({ name: 'stays', namespace: 'default' });
  const goes = objects.pod({ name: 'goes', namespace: 'default' });
  const recreated = objects.pod({ name: 'again', namespace: 'default' });
  const { cache, changes } = pods(t, api);
  await eventually(() => assert.ok(cache.synced()));
  let again = '';
  // While the API is away: more changes than the history keeps, so the watch cannot resume.
  await api.restart(() => {
    objects.deletePod('default', 'goes');
    objects.pod({ name: 'stays', namespace: 'default', labels: { 'istio.io/dataplane-mode': 'ambient' } });
    objects.deletePod('default', 'again');
    again = objects.pod({ name: 'again', namespace: 'default' });
    for (let i = 0; i < 6; i++) objects.pod({ name: `filler-${i}`, namespace: 'default', nodeName: 'node2' });
  });
  await eventually(() => assert.equal(cache.stats().lists, 2), 10_000);
  await eventually(() =>
    assert.deepEqual(
      cache
        .values()
        .map((p) => p.uid)
        .sort(),
      [stays, again].sort(),
    ),
  );
  assert.deepEqual(changes.slice(3).sort(), [`+${again}`, `-${goes}`, `-${recreated}`, `~${stays}`].sort());
  assert.equal(cache.get(stays)?.labels['istio.io/dataplane-mode'], 'ambient');
  assert.equal(cache.find('default', 'again')?.uid, again);
});

test('an API that is not there yet is retried with backoff until it answers; synced only then', async (t) => {
  const { api, objects } = await setUp(t, 50, false);
  // Learn a port, then go away: the cache starts against an API that refuses connections.
  await api.start();
  await api.stop();
  objects.namespace('late');
  const { cache } = namespaces(t, api);
  await eventually(() => assert.ok(cache.stats().restarts >= 2, 'retried more than once'));
  assert.equal(cache.synced(), false);
  await api.start();
  await eventually(() => assert.ok(cache.synced()), 10_000);
  assert.deepEqual(
    cache
      .values()
      .map((ns) => ns.name)
      .sort(),
    ['default', 'late'],
  );
});

test('an object that does not parse is skipped and counted; the watch carries on', async (t) => {
  const { api, objects } = await setUp(t);
  api.store.create({ ...podObject({ name: 'bad', namespace: 'default' }), status: { phase: 'Running', podIP: 'not-an-ip' } });
  const good = objects.pod({ name: 'good', namespace: 'default' });
  const { cache } = pods(t, api);
  await eventually(() => assert.ok(cache.synced()));
  assert.equal(cache.stats().badObjects, 1);
  const later = objects.pod({ name: 'later', namespace: 'default' });
  await eventually(() =>
    assert.deepEqual(
      cache
        .values()
        .map((p) => p.uid)
        .sort(),
      [good, later].sort(),
    ),
  );
});

test('stop() ends the watch and keeps the cache readable', async (t) => {
  const { api, objects } = await setUp(t);
  objects.namespace('a');
  const { cache, changes } = namespaces(t, api);
  await eventually(() => assert.ok(cache.synced()));
  await cache.stop();
  assert.equal(cache.get('a')?.name, 'a');
  // Nothing arrives any more: a cache still watching sees the change, the stopped one does not.
  const { cache: other, changes: otherChanges } = namespaces(t, api);
  await eventually(() => assert.ok(other.synced()));
  objects.namespace('after-stop');
  await eventually(() => assert.ok(otherChanges.includes('+after-stop')));
  assert.equal(changes.includes('+after-stop'), false);
});

test('look-ups: from the caches when they hold the pod (and uid) and its namespace and say ambient, else from the API', async (t) => {
  const { api, objects } = await setUp(t);
  objects.namespace('mesh', { 'istio.io/dataplane-mode': 'ambient' });
  const web = objects.pod({ name: 'web', namespace: 'mesh', serviceAccount: 'web-sa' });
  objects.namespace('plain');
  objects.pod({ name: 'legacy', namespace: 'plain' });
  const { cache: podCache } = pods(t, api);
  const { cache: nsCache } = namespaces(t, api);
  const lookup = createPodLookup({ client: new KubeClient(api.kubeConfig()), pods: podCache, namespaces: nsCache, timeoutMs: 1000 });
  await eventually(() => assert.ok(podCache.find('mesh', 'web') !== undefined && nsCache.find('', 'mesh') !== undefined));
  await eventually(() => assert.ok(podCache.find('plain', 'legacy') !== undefined && nsCache.find('', 'plain') !== undefined));
  // Created after the caches saw the rest, read while the API is there: a direct read finds it.
  objects.pod({ name: 'fresh', namespace: 'mesh' });
  assert.equal((await lookup.read('mesh', 'fresh')).pod.name, 'fresh');
  await assert.rejects(
    lookup.read('mesh', 'ghost'),
    (err: unknown) => err instanceof PodLookupError && err.notFound && /pod mesh\/ghost/.test(err.message),
  );

  await api.stop();
  // The API is away: what the caches hold is still answered, what they do not is a failure (not a "not found").
  const cached = await lookup.lookUp('mesh', 'web', web);
  assert.equal(cached.pod.serviceAccount, 'web-sa');
  assert.equal(cached.namespace.labels['istio.io/dataplane-mode'], 'ambient');
  assert.equal((await lookup.lookUp('mesh', 'web')).pod.uid, web, 'without a uid from the runtime');
  await assert.rejects(
    lookup.lookUp('mesh', 'web', 'another-uid'),
    (err: unknown) => err instanceof PodLookupError && !err.notFound,
    'another uid: the pod was re-created, ask the API',
  );
  await assert.rejects(lookup.lookUp('mesh', 'unknown'), (err: unknown) => err instanceof PodLookupError && !err.notFound);
  // A cached "not ambient" is never the answer: its namespace may have been labelled a moment ago (fail closed).
  await assert.rejects(
    lookup.lookUp('plain', 'legacy'),
    (err: unknown) => err instanceof PodLookupError && !err.notFound,
    'not ambient in the caches: ask the API',
  );
});
