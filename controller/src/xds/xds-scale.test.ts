import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { eventually } from '@ambit/core/testing';
import type { AddressResource } from '@ambit/core/codec';
import { ADDRESS_TYPE_URL, harness, workload, workloadResource } from '../../testing/xds-harness.ts';

const RESOURCES = 10_000;
const CLIENTS = 10;

test(`push latency: ${RESOURCES} workloads to ${CLIENTS} proxies, then one change`, async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const clients = Array.from({ length: CLIENTS }, () => h.client(server.address));
  await eventually(() => assert.equal(server.connections().length, CLIENTS), 3000);
  const resources = Array.from({ length: RESOURCES }, (_, i) => workloadResource(workload(i)));

  let start = performance.now();
  server.publish(ADDRESS_TYPE_URL, { upserted: resources, removed: [] });
  await eventually(
    () => {
      for (const c of clients) assert.equal(c.client.state(ADDRESS_TYPE_URL).size, RESOURCES);
    },
    30_000,
    5,
  );
  const fullMs = performance.now() - start;

  const changed = workload(4242, { status: 'UNHEALTHY' });
  start = performance.now();
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(changed)], removed: [] });
  await eventually(
    () => {
      for (const c of clients) {
        const r = c.client.state<AddressResource>(ADDRESS_TYPE_URL).get(changed.uid);
        assert.ok(r && 'workload' in r && r.workload.status === 'UNHEALTHY');
      }
    },
    5_000,
    1,
  );
  const oneMs = performance.now() - start;

  const bytes = resources.reduce((n, r) => n + r.body.length, 0);
  t.diagnostic(`full push of ${RESOURCES} resources (${(bytes / 1024).toFixed(0)} KiB) to ${CLIENTS} proxies: ${fullMs.toFixed(0)} ms`);
  t.diagnostic(`one change to ${CLIENTS} proxies holding ${RESOURCES}: ${oneMs.toFixed(1)} ms (debounce 0)`);
  // Generous bounds: this guards against regressions by an order of magnitude, not against a slow CI machine.
  assert.ok(fullMs < 20_000, `full push took ${fullMs} ms`);
  assert.ok(oneMs < 1_000, `one change took ${oneMs} ms`);
});
