import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KubeClient } from '@ambit/core/kube';
import { startInformer, type RunningInformer } from '@ambit/core/kube';
import { WATCHED_KINDS } from '../../controller/src/kube/watched-kinds.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { LocalApi } from './helpers/local-api.ts';

// The controller's watch path (client-node informers + restart) against the local cluster's Kubernetes-style API:
// a dropped watch and a 410 Gone, both provoked, must leave the informer's view equal to the store's.

const store = new ObjectStore({ historyLimit: 5, namespaces: ['default'] });
const podType = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
const api = new LocalApi(store);
let informer: RunningInformer | undefined;

after(async () => {
  await informer?.stop();
  await api.stop();
});

function pod(name: string): Parameters<ObjectStore['create']>[0] {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', command: ['x'] }] } };
}

function storeView(): Map<string, string> {
  return new Map(store.list(podType).items.map((p) => [p.metadata.name ?? '', p.metadata.resourceVersion ?? '']));
}

test('an informer survives a dropped watch and a 410 without losing or duplicating objects', async () => {
  await api.start();
  const kc = api.kubeConfig();
  let lists = 0;
  class CountingClient extends KubeClient {
    override list(...args: Parameters<KubeClient['list']>): ReturnType<KubeClient['list']> {
      lists++;
      return super.list(...args);
    }
  }
  const seen = new Map<string, string>();
  let duplicateAdds = 0;
  const kind = WATCHED_KINDS.find((k) => k.kind === 'Pod');
  assert.ok(kind, 'Pod is watched');
  informer = startInformer({
    kc,
    client: new CountingClient(kc),
    kind,
    log: silentLogger(),
    backoff: { initialMs: 50, maxMs: 200 },
    onEvent: (type, obj) => {
      const meta = obj['metadata'] as { name: string; resourceVersion: string };
      if (type === 'delete') seen.delete(meta.name);
      else {
        if (seen.get(meta.name) === meta.resourceVersion) duplicateAdds++;
        seen.set(meta.name, meta.resourceVersion);
      }
    },
  });
  for (const n of ['a', 'b', 'c']) store.create(pod(n));
  await informer.synced;
  await eventually(() => assert.deepEqual(seen, storeView()), 5000);

  // 1. Dropped watch: the API goes away, a few changes happen (within the watch history), the API returns.
  await api.restart(() => {
    store.create(pod('d'));
    store.delete(podType, 'default', 'a');
  });
  await eventually(() => assert.deepEqual(seen, storeView()), 10_000);
  assert.equal(lists, 1, 'within the history the watch resumed from its resourceVersion, without a relist');

  // 2. 410: while the API is away, more changes than the history holds (5), so resuming is impossible: relist.
  await api.restart(() => {
    for (let i = 0; i < 8; i++) store.create(pod(`bulk-${i}`));
    store.delete(podType, 'default', 'b');
    store.patch(podType, 'default', 'c', { metadata: { labels: { changed: 'yes' } } }, { patchType: 'merge' });
  });
  await eventually(() => assert.deepEqual(seen, storeView()), 10_000);
  assert.equal(lists, 2, 'the 410 made the informer relist once');
  assert.equal(duplicateAdds, 0, 'no object was delivered twice at the same version');
  assert.equal(seen.has('a'), false, 'deleted while away: gone');
  assert.equal(seen.has('b'), false, 'deleted beyond the watch history: gone after the relist');
});
