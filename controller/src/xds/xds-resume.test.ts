import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@ambit/core/testing';
import { ADDRESS_TYPE_URL, harness, startRelay, workload, workloadResource, type TestClient } from '../../testing/xds-harness.ts';

function assertConverged(c: TestClient, expected: ReadonlyMap<string, ReturnType<typeof workload>>): void {
  assert.deepEqual(new Map([...c.workloads()].sort()), new Map([...expected].sort()));
}

test('a proxy whose stream was cut converges to the server state on reconnect, removals included, receiving only the differences', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const relay = await startRelay(h.dir.path('relay.sock'), h.dir.path('xds.sock'));
  h.defer(() => relay.close());
  const state = new Map<string, ReturnType<typeof workload>>();
  const publish = (upserts: Array<ReturnType<typeof workload>>, removed: string[] = []) => {
    for (const w of upserts) state.set(w.uid, w);
    for (const r of removed) state.delete(r);
    server.publish(ADDRESS_TYPE_URL, { upserted: upserts.map(workloadResource), removed });
  };
  publish(Array.from({ length: 20 }, (_, i) => workload(i)));
  const c = h.client(relay.target);
  await eventually(() => assertConverged(c, state), 1000);

  await relay.cut();
  await eventually(() => assert.equal(c.client.connected(), false), 2000);
  await eventually(() => assert.equal(server.connections().length, 0), 2000);
  // While the proxy is away: two removals, one update, one addition.
  publish([workload(3, { status: 'UNHEALTHY' }), workload(100)], [workload(5).uid, workload(6).uid]);
  assert.equal(c.workloads().size, 20, 'the disconnected proxy keeps serving its last good state');

  const before = c.changes.length;
  await relay.restore();
  await eventually(() => assertConverged(c, state), 2000);
  assert.ok(c.client.connected());
  const resumed = c.changes.slice(before);
  assert.equal(resumed.length, 1, 'one resume response');
  assert.deepEqual([...(resumed[0]?.upserted.keys() ?? [])].sort(), [workload(100).uid, workload(3).uid].sort());
  assert.deepEqual([...(resumed[0]?.removed ?? [])].sort(), [workload(5).uid, workload(6).uid].sort());
  const info = server.connections()[0]?.types[ADDRESS_TYPE_URL];
  assert.equal(info?.ackedVersions, state.size, "the server's view of the proxy matches too");
});

test('after a server restart on the same socket, proxies converge again without being recreated', async (t) => {
  const h = harness(t);
  const first = await h.server({ debounceMs: 0 });
  const initial = Array.from({ length: 10 }, (_, i) => workload(i));
  first.publish(ADDRESS_TYPE_URL, { upserted: initial.map(workloadResource), removed: [] });
  const a = h.client(first.address);
  const b = h.client(first.address);
  for (const c of [a, b]) await eventually(() => assert.equal(c.workloads().size, 10), 1000);

  await first.close();
  await eventually(() => assert.ok(!a.client.connected() && !b.client.connected()), 2000);
  // The new controller rebuilt its state from the cluster: same objects, minus one, plus one changed.
  const second = await h.server({ debounceMs: 0 });
  const next = [...initial.slice(1, 9), workload(9, { node: 'node2' })];
  second.publish(ADDRESS_TYPE_URL, { upserted: next.map(workloadResource), removed: [] });
  const expected = new Map(next.map((w) => [w.uid, w]));
  for (const c of [a, b]) {
    await eventually(() => assertConverged(c, expected), 3000);
    assert.ok(c.client.connected());
  }
  assert.ok(a.client.stats().streams >= 2, 'the same client reconnected');
  await eventually(() => assert.equal(second.connections().length, 2), 1000);
});
