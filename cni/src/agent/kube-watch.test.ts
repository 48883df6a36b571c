// The list-watch client against the stand-in API: list then watch from its version, bookmarks, field selectors,
// relist on 410 (in-stream and as an HTTP status), reconnect with backoff, bad objects skipped.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parseNamespace, parsePod, type NamespaceInfo, type PodInfo } from './kube-objects.ts';
import { startListWatch, type ListWatch, type ListWatchOptions } from './kube-watch.ts';
import { testLogger } from '../../testing/agent-harness.ts';
import { namespaceObject, podObject, startFakeKubeApi, type FakeKubeApi, type FakeKubeApiOptions, type KubeObject } from '../../testing/fake-kube-api.ts';

interface Recorded<T> {
  readonly changes: string[];
  readonly watch: ListWatch<T>;
}

async function setUp(t: TestContext, apiOptions: FakeKubeApiOptions = {}): Promise<{ dir: string; api: FakeKubeApi }> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-kw-'));
  const api = await startFakeKubeApi(dir, apiOptions);
  t.after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, api };
}

/** Starts a watch whose changes are recorded as `+key`, `~key` (update) and `-key`; stopped after the test. */
function watchNamespaces(t: TestContext, socketPath: string, extra: Partial<ListWatchOptions<NamespaceInfo>> = {}): Recorded<NamespaceInfo> {
  const changes: string[] = [];
  const watch = startListWatch<NamespaceInfo>({
    socketPath,
    path: '/api/v1/namespaces',
    parse: parseNamespace,
    keyOf: (ns) => ns.name,
    onChange: (key, current, previous) => changes.push(`${current === undefined ? '-' : previous === undefined ? '+' : '~'}${key}`),
    log: testLogger(),
    backoff: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  t.after(() => watch.stop());
  return { changes, watch };
}

const watchRequests = (api: FakeKubeApi, path: string): string[] => api.requests.filter((r) => r.startsWith(`GET ${path}?`) && r.includes('watch=true'));
const listRequests = (api: FakeKubeApi, path: string): string[] => api.requests.filter((r) => r.startsWith(`GET ${path}?`) && !r.includes('watch='));

test('lists, then watches from the list version: adds, updates and deletes reach the cache and the handler', async (t) => {
  const { api } = await setUp(t);
  api.put('namespaces', namespaceObject('a'));
  api.put('namespaces', namespaceObject('b'));
  let synced = 0;
  const { changes, watch } = watchNamespaces(t, api.socketPath, { onSynced: () => synced++ });
  await eventually(() => assert.equal(api.openWatches('namespaces'), 1));
  assert.equal(synced, 1);
  assert.deepEqual(changes, ['+a', '+b']);
  const listRv = api.resourceVersion;
  assert.match(watchRequests(api, '/api/v1/namespaces')[0] ?? '', new RegExp(`resourceVersion=${listRv}&allowWatchBookmarks=true`));

  api.put('namespaces', namespaceObject('c'));
  api.put('namespaces', namespaceObject('a', { team: 'x' }));
  api.delete('namespaces', undefined, 'b');
  await eventually(() => assert.deepEqual(changes, ['+a', '+b', '+c', '~a', '-b']));
  assert.deepEqual(watch.get('a')?.labels, { 'kubernetes.io/metadata.name': 'a', team: 'x' });
  assert.deepEqual(watch.values().map((ns) => ns.name).sort(), ['a', 'c']);
  assert.equal(watch.stats().lists, 1);
});

test('the field selector goes to list and watch; a pod that stops matching arrives as a deletion', async (t) => {
  const { api } = await setUp(t);
  api.put('pods', podObject({ name: 'here', namespace: 'ns', uid: 'u1', nodeName: 'node1' }));
  api.put('pods', podObject({ name: 'there', namespace: 'ns', uid: 'u2', nodeName: 'node2' }));
  const changes: string[] = [];
  const watch = startListWatch<PodInfo>({
    socketPath: api.socketPath,
    path: '/api/v1/pods',
    fieldSelector: 'spec.nodeName=node1',
    parse: parsePod,
    keyOf: (pod) => pod.uid,
    onChange: (key, current) => changes.push(`${current === undefined ? '-' : '+'}${key}`),
    log: testLogger(),
  });
  t.after(() => watch.stop());
  await eventually(() => assert.equal(api.openWatches('pods'), 1));
  assert.deepEqual(changes, ['+u1']);
  for (const r of [...listRequests(api, '/api/v1/pods'), ...watchRequests(api, '/api/v1/pods')]) assert.match(r, /fieldSelector=spec.nodeName%3Dnode1/);
  api.put('pods', podObject({ name: 'here', namespace: 'ns', uid: 'u1', nodeName: 'node9' }));
  api.put('pods', podObject({ name: 'new', namespace: 'ns', uid: 'u3', nodeName: 'node1' }));
  await eventually(() => assert.deepEqual(changes, ['+u1', '-u1', '+u3']));
  assert.equal(watch.get('u1'), undefined);
});

test('bookmarks move the version a re-watch starts from; a watch the server ends is re-opened without a relist', async (t) => {
  const { api } = await setUp(t, { bookmarkIntervalMs: 30 });
  api.put('namespaces', namespaceObject('a'));
  const { watch } = watchNamespaces(t, api.socketPath);
  await eventually(() => assert.equal(api.openWatches('namespaces'), 1));
  // Versions move on through another kind: this watch only learns them from bookmarks.
  for (let i = 0; i < 3; i++) api.put('pods', podObject({ name: `p${i}`, namespace: 'ns', uid: `u${i}` }));
  const latest = api.resourceVersion;
  // The end of the stream comes after the bookmark on the same connection, so the client has read it by then.
  await eventually(() => assert.ok(api.bookmarks.includes(latest)));
  api.endWatches();
  await eventually(() => assert.equal(watchRequests(api, '/api/v1/namespaces').length, 2));
  assert.match(watchRequests(api, '/api/v1/namespaces')[1] ?? '', new RegExp(`resourceVersion=${latest}&`));
  assert.equal(watch.stats().lists, 1);
  assert.equal(watch.stats().gone, 0);
});

for (const goneAsHttpStatus of [false, true]) {
  test(`an expired version (${goneAsHttpStatus ? 'HTTP 410' : 'in-stream ERROR 410'}) relists, and what changed meanwhile is reported`, async (t) => {
    const { api } = await setUp(t, { goneAsHttpStatus });
    api.put('namespaces', namespaceObject('stays'));
    api.put('namespaces', namespaceObject('goes'));
    const { changes, watch } = watchNamespaces(t, api.socketPath);
    await eventually(() => assert.equal(api.openWatches('namespaces'), 1));
    // The watch is cut, things change while it is away, and the history that would replay them is gone.
    api.setDown(true);
    api.endWatches();
    api.delete('namespaces', undefined, 'goes');
    api.put('namespaces', namespaceObject('stays', { 'istio.io/dataplane-mode': 'ambient' }));
    api.put('namespaces', namespaceObject('arrives'));
    api.compact();
    api.setDown(false);
    await eventually(() => assert.equal(watch.stats().gone, 1));
    await eventually(() => assert.deepEqual(changes.slice(2).sort(), ['+arrives', '-goes', '~stays']));
    assert.equal(watch.stats().lists, 2);
    assert.deepEqual(watch.get('stays')?.labels['istio.io/dataplane-mode'], 'ambient');
  });
}

test('an API that is not there yet is retried with backoff until it answers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-kw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { watch } = watchNamespaces(t, join(dir, 'api.sock'));
  await eventually(() => assert.ok(watch.stats().failures >= 2, 'retried more than once'));
  assert.equal(watch.synced(), false);
  const api = await startFakeKubeApi(dir);
  t.after(() => api.close());
  api.put('namespaces', namespaceObject('late'));
  await eventually(() => assert.ok(watch.synced()));
  assert.deepEqual(watch.values().map((ns) => ns.name), ['late']);
});

test('an object that does not parse is skipped and counted; the watch carries on', async (t) => {
  const { api } = await setUp(t);
  const bad: KubeObject = { metadata: { name: 'bad', uid: 'x', labels: { n: 5 as unknown as string } } };
  api.put('namespaces', bad);
  api.put('namespaces', namespaceObject('good'));
  const { watch } = watchNamespaces(t, api.socketPath);
  await eventually(() => assert.equal(api.openWatches('namespaces'), 1));
  assert.equal(watch.stats().badObjects, 1);
  api.put('namespaces', namespaceObject('later'));
  await eventually(() => assert.deepEqual(watch.values().map((ns) => ns.name).sort(), ['good', 'later']));
});

test('stop() closes the open watch and keeps the cache readable', async (t) => {
  const { api } = await setUp(t);
  api.put('namespaces', namespaceObject('a'));
  const { watch } = watchNamespaces(t, api.socketPath);
  await eventually(() => assert.equal(api.openWatches('namespaces'), 1));
  await watch.stop();
  await eventually(() => assert.equal(api.openWatches('namespaces'), 0));
  assert.equal(watch.get('a')?.name, 'a');
  assert.equal(api.openWatches('namespaces'), 0, 'stop() resolved only once the loop ended: no reconnect follows');
});
