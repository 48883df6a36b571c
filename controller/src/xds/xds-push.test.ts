import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@ambit/core/testing';
import { ADDRESS_TYPE_URL, harness, workload, workloadResource } from '../../testing/xds-harness.ts';
import { createXdsServer } from './xds-server.ts';
import { silentLogger } from '@ambit/core';
import * as grpc from '@grpc/grpc-js';

test('two subscribed proxies receive an add, an update and a delete within 1 s each', async (t) => {
  const h = harness(t);
  const server = await h.server();
  const a = h.client(server.address);
  const b = h.client(server.address);
  await eventually(() => assert.equal(server.connections().length, 2), 2000);

  const w1 = workload(1);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w1)], removed: [] });
  for (const c of [a, b]) await eventually(() => assert.deepEqual(c.workloads().get(w1.uid), w1), 1000);

  const w1b = workload(1, { status: 'UNHEALTHY', addresses: ['10.244.9.9'] });
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w1b)], removed: [] });
  for (const c of [a, b]) await eventually(() => assert.deepEqual(c.workloads().get(w1.uid), w1b), 1000);

  server.publish(ADDRESS_TYPE_URL, { upserted: [], removed: [w1.uid] });
  for (const c of [a, b]) {
    await eventually(() => assert.equal(c.workloads().size, 0), 1000);
    assert.deepEqual(c.changes.at(-1)?.removed, [w1.uid]);
  }
  await eventually(() => {
    for (const conn of server.connections()) {
      const info = conn.types[ADDRESS_TYPE_URL];
      assert.equal(info?.pending, 0);
      assert.equal(info?.ackedVersions, 0);
      assert.notEqual(info?.ackedNonce, '');
    }
  }, 1000);
  const convergence = await server.metrics.convergenceSeconds.get();
  const count = convergence.values.find((v) => v.metricName === 'pilot_proxy_convergence_time_count');
  assert.equal(count?.value, 6, 'three changes ACKed by two proxies');
});

test('ten publishes within the debounce window reach each proxy as one push', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 100 });
  const c = h.client(server.address);
  await eventually(() => assert.ok(c.client.connected()), 2000);
  const before = c.client.stats().responses;
  for (let i = 0; i < 10; i++) {
    server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(workload(i))], removed: [] });
  }
  await eventually(() => assert.equal(c.workloads().size, 10), 1000);
  assert.equal(c.client.stats().responses - before, 1);
  assert.equal(c.changes.at(-1)?.upserted.size, 10);
});

test('re-publishing identical bytes pushes nothing', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const c = h.client(server.address);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(workload(1))], removed: [] });
  await eventually(() => assert.equal(c.workloads().size, 1), 1000);
  const pushes = (await server.metrics.pushes.get()).values.reduce((n, v) => n + v.value, 0);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(workload(1))], removed: ['never-existed'] });
  // A marker publish after the no-op one: once it arrives, the no-op one would have too.
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(workload(2))], removed: [] });
  await eventually(() => assert.equal(c.workloads().size, 2), 1000);
  assert.equal(
    (await server.metrics.pushes.get()).values.reduce((n, v) => n + v.value, 0),
    pushes + 1,
  );
});

test('an explicit-name subscription gets only those names, including later changes to them', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const [w1, w2, w3] = [workload(1), workload(2), workload(3)];
  server.publish(ADDRESS_TYPE_URL, { upserted: [w1, w2, w3].map(workloadResource), removed: [] });
  const some = h.client(server.address, { names: [w1.uid, w3.uid] });
  const all = h.client(server.address);
  await eventually(() => assert.equal(all.workloads().size, 3), 1000);
  await eventually(() => assert.deepEqual([...some.workloads().keys()].sort(), [w1.uid, w3.uid]), 1000);
  server.publish(ADDRESS_TYPE_URL, {
    upserted: [workloadResource(workload(2, { node: 'node2' })), workloadResource(workload(3, { node: 'node2' }))],
    removed: [w1.uid],
  });
  await eventually(() => assert.equal(all.workloads().get(w2.uid)?.node, 'node2'), 1000);
  await eventually(
    () =>
      assert.deepEqual(
        [...some.workloads().values()].map((w) => [w.uid, w.node]),
        [[w3.uid, 'node2']],
      ),
    1000,
  );
  assert.ok(!some.changes.some((c) => c.upserted.has(w2.uid)), 'never sent a name it did not subscribe to');
});

test('a large state goes out in bounded responses', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0, maxResourcesPerResponse: 1000 });
  server.publish(ADDRESS_TYPE_URL, { upserted: Array.from({ length: 2500 }, (_, i) => workloadResource(workload(i))), removed: [] });
  const c = h.client(server.address);
  await eventually(() => assert.equal(c.workloads().size, 2500), 5000);
  assert.deepEqual(
    c.changes.map((x) => x.upserted.size),
    [1000, 1000, 500],
  );
});

test('a proxy subscribing to a type nobody published gets an empty first response (ztunnel waits for it)', async (t) => {
  const h = harness(t);
  const server = await h.server();
  const c = h.client(server.address);
  await eventually(() => assert.ok(c.client.connected()), 2000);
  assert.equal(c.changes.length, 1);
  assert.equal(c.changes[0]?.upserted.size, 0);
});

test('start-up errors are clear: debounce over 100 ms, an unusable socket path', async () => {
  await assert.rejects(
    createXdsServer({ listen: { socketPath: '/nonexistent-dir/x.sock' }, log: silentLogger(), debounceMs: 250 }),
    /debounceMs must be within 0\.\.100, got 250/,
  );
  await assert.rejects(
    createXdsServer({ listen: { socketPath: '/nonexistent-dir/x.sock' }, log: silentLogger() }),
    (err: unknown) =>
      err instanceof Error &&
      'code' in err &&
      err.code === 'BIND_FAILED' &&
      /cannot listen on unix:\/nonexistent-dir\/x\.sock/.test(err.message),
  );
});

test('configure() sees the gRPC server before it binds, so other services (the CA) can share the port', async (t) => {
  const h = harness(t);
  let seen: unknown;
  const server = await h.server({ configure: (s) => (seen = s) });
  assert.ok(seen instanceof grpc.Server);
  assert.match(server.address, /^unix:/);
});
