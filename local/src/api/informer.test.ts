import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, KubeConfig, makeInformer, type Informer, type V1Pod } from '@kubernetes/client-node';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { ObjectStore } from '../store/object-store.ts';
import { createApiServer, type ApiServer } from './server.ts';

// The controller reads clusters through @kubernetes/client-node informers (list, then watch from the list's
// resourceVersion); this checks that path end to end against the local API, over TLS with a bearer token.

const TOKEN = 'informer-test-token';
const store = new ObjectStore();
const podType = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
let api: ApiServer;
let informer: Informer<V1Pod> | undefined;

before(async () => {
  api = await createApiServer({
    store,
    listen: { host: '127.0.0.1', port: 0 },
    token: TOKEN,
    log: silentLogger(),
    bookmarkIntervalMs: 200,
  });
});

after(async () => {
  await informer?.stop();
  await api.close();
});

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: api.url, caData: Buffer.from(api.caCertPem ?? '').toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: TOKEN }],
    contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

test('a client-node informer lists, then sees adds, updates and deletes in order', async () => {
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'before', namespace: 'default' },
    spec: { containers: [{ name: 'c', command: ['x'] }] },
  });
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const seen: string[] = [];
  informer = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
  informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.['v'] ?? ''}`));
  informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
  informer.on('error', (err) => seen.push(`error ${String(err)}`));
  await informer.start();
  await eventually(() => assert.deepEqual(seen, ['add before']));

  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'later', namespace: 'default' },
    spec: { containers: [{ name: 'c', command: ['x'] }] },
  });
  store.patch(podType, 'default', 'later', { metadata: { labels: { v: '2' } } }, { patchType: 'merge' });
  store.delete(podType, 'default', 'before');
  await eventually(() => assert.deepEqual(seen, ['add before', 'add later', 'update later 2', 'delete before']));
});
