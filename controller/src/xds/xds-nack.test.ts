import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@ambit/core/testing';
import { ADDRESS_TYPE_URL, harness, workload, workloadResource } from '../../testing/xds-harness.ts';

test('a malformed resource is NACKed, the proxy keeps its good version, and the server records it without resending', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const w1 = workload(1);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w1)], removed: [] });
  const c = h.client(server.address);
  await eventually(() => assert.deepEqual(c.workloads().get(w1.uid), w1), 1000);

  server.publish(ADDRESS_TYPE_URL, { upserted: [{ name: w1.uid, body: Buffer.from('not a protobuf at all') }], removed: [] });
  const conn = await eventually(() => {
    const info = server.connections()[0]?.types[ADDRESS_TYPE_URL];
    assert.ok(info?.lastNack, 'no NACK recorded yet');
    return info;
  }, 1000);
  assert.match(conn.lastNack ?? '', new RegExp(`resource "${w1.uid}": invalid istio\\.workload\\.Address: `));
  assert.equal(conn.pending, 0, 'the rejected version is not pending: it will not be resent');
  assert.deepEqual(c.workloads().get(w1.uid), w1, 'the previous good version stays in force');
  const nacks = await server.metrics.nacks.get();
  assert.deepEqual(
    nacks.values.map((v) => [v.labels['type'], v.value]),
    [['Address', 1]],
  );

  // An unrelated change goes out on its own: the bad version is not sent again, so it is not NACKed again.
  const w2 = workload(2);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w2)], removed: [] });
  await eventually(() => assert.ok(c.workloads().has(w2.uid)), 1000);
  assert.equal(c.client.stats().nacks, 1);
  assert.equal(c.changes.at(-1)?.upserted.size, 1);

  // A newer, valid version of the rejected resource is sent and applied.
  const w1b = workload(1, { canonicalRevision: 'v2' });
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w1b)], removed: [] });
  await eventually(() => assert.deepEqual(c.workloads().get(w1.uid), w1b), 1000);
  await eventually(() => assert.equal(server.connections()[0]?.types[ADDRESS_TYPE_URL]?.ackedVersions, 2), 1000);
});

test('a NACKing proxy does not hold back a healthy one', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const picky = h.client(server.address, {
    types: [
      {
        typeUrl: ADDRESS_TYPE_URL,
        decode: () => {
          throw new Error('this proxy rejects everything');
        },
        onChange: () => {},
      },
    ],
  });
  const healthy = h.client(server.address);
  await eventually(() => assert.equal(server.connections().length, 2), 2000);
  for (let i = 0; i < 3; i++) {
    server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(workload(i))], removed: [] });
    await eventually(() => assert.equal(healthy.workloads().size, i + 1), 1000);
  }
  await eventually(() => assert.ok(picky.client.stats().nacks >= 1), 1000);
  assert.equal(picky.client.state(ADDRESS_TYPE_URL).size, 0);
});
