import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import type { SeenRequest } from '../../testing/fixture.ts';
import { backend, host, routeSet, startScenario, type Scenario } from '../../testing/scenario.ts';

// timeouts.request over the whole exchange (GEP-1742) and retries after a backendRequest timeout (GEP-1731).
let sc: Scenario;
before(async () => {
  sc = await startScenario();
});
after(async () => {
  await sc.close();
});
beforeEach(() => {
  sc.fx.state.routes.clear();
  sc.fx.records.length = 0;
});

async function timed(path: string): Promise<{ status: number; ms: number; seen: SeenRequest | undefined }> {
  const t0 = performance.now();
  const res = await sc.client().request({ path, method: 'GET', headers: { host: 'svc' } });
  const text = await res.body.text();
  const json = String(res.headers['content-type']).startsWith('application/json') || text.startsWith('{');
  return { status: res.statusCode, ms: performance.now() - t0, seen: json ? (JSON.parse(text) as SeenRequest) : undefined };
}

test('timeouts.request covers the whole exchange: a response still streaming at the deadline is cut there', async () => {
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')], requestTimeoutMs: 500 } }]));
  const t0 = performance.now();
  const res = await sc.client().request({ path: '/trickle?ms=3000', method: 'GET', headers: { host: 'svc' } });
  assert.equal(res.statusCode, 200, 'the head came in time');
  await assert.rejects(res.body.text(), 'the body is cut, not completed');
  const ms = performance.now() - t0;
  assert.ok(ms >= 450 && ms < 1_000, `cut after ${ms} ms`);
  await eventually(() => assert.equal(sc.fx.records.at(-1)?.responseFlags, 'UT'));
  // A response that completes in time is untouched.
  assert.equal((await timed('/trickle?ms=100')).status, 200);
});

test('timeouts.request bounds every try together: per-try timeouts and retries stop at the request deadline', async () => {
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([
      {
        rule: { backends: [backend('svc-v1')], requestTimeoutMs: 500, backendRequestTimeoutMs: 150, retry: { attempts: 10, codes: [] } },
      },
    ]),
  );
  const before = sc.v1.seen.length;
  const r = await timed('/sleep?ms=2000');
  assert.equal(r.status, 504);
  assert.ok(r.ms < 700, `answered after ${r.ms} ms`);
  // 500 ms holds three 150 ms tries and their back-offs, never the eleven the policy allows.
  await eventually(() =>
    assert.ok(sc.v1.seen.length - before >= 2 && sc.v1.seen.length - before <= 4, `${sc.v1.seen.length - before} tries`),
  );
});

test('a try cut by timeouts.backendRequest is retried under a retry stanza (GEP-1731), not under the default policy', async () => {
  // /slow-flaky answers every other request only after 1 s: a retried request costs the backend exactly two.
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([{ rule: { backends: [backend('svc-v1')], backendRequestTimeoutMs: 200, retry: { attempts: 1, codes: [] } } }]),
  );
  let before = sc.v1.seen.length;
  for (let i = 0; i < 3; i++) {
    const r = await timed('/slow-flaky?ms=1000');
    assert.equal(r.status, 200);
    assert.ok(r.ms < 700, `answered after ${r.ms} ms`);
  }
  // The backend sees each slow try (given up on by the waypoint) and its fast retry.
  await eventually(() => assert.equal(sc.v1.seen.length - before, 6), 3_000);
  await eventually(() => assert.equal(sc.fx.records.length, 3));
  assert.deepEqual(
    sc.fx.records.map((r) => [r.responseCode, r.attempts]),
    [
      [200, 2],
      [200, 2],
      [200, 2],
    ],
  );
  // Istio's default policy (no stanza) and attempts 0 do not retry the timed-out try.
  for (const retry of [undefined, { attempts: 0, codes: [] }]) {
    sc.fx.state.routes.set(
      host('svc'),
      routeSet([{ rule: { backends: [backend('svc-v1')], backendRequestTimeoutMs: 200, ...(retry === undefined ? {} : { retry }) } }]),
    );
    before = sc.v1.seen.length;
    const results = [await timed('/slow-flaky?ms=1000'), await timed('/slow-flaky?ms=1000')];
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 504], `retry ${JSON.stringify(retry)}`);
  }
});
