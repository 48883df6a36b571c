import assert from 'node:assert/strict';
import { connect as h2Connect, type IncomingHttpHeaders } from 'node:http2';
import { after, before, beforeEach, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import type { RouteFilter } from '@ambit/core/routes';
import type { RateLimit, ServiceTraffic } from '@ambit/core/traffic';
import { CLIENT_ID, NS } from '../../testing/fixture.ts';
import { backend, host, routeSet, startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

// The waypoint's traffic guards on the data path (real HBONE, real backends): rate limits (429 RL), the route fault
// filter (FI aborts over HTTP and gRPC, DI delays), unresolved filters (500), and the retry budget.
let sc: Scenario;
before(async () => {
  sc = await startScenario();
});
after(async () => {
  await sc.close();
});
beforeEach(() => {
  sc.fx.state.routes.clear();
  sc.fx.state.traffic.clear();
  sc.fx.records.length = 0;
  sc.fx.retries.length = 0;
});

const traffic = (name: string, t: Partial<ServiceTraffic>): void => {
  sc.fx.state.traffic.set(`${NS}/${host(name)}`, { service: { namespace: NS, hostname: host(name) }, subsets: [], ...t });
};
const limit = (l: Partial<RateLimit>): RateLimit => ({ policy: `${NS}/limit`, overrides: [], ...l });

async function get(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; ms: number }> {
  const t0 = performance.now();
  const res = await sc.client().request({ path, method: 'GET', headers: { host: 'svc' } });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - t0 };
}

test('over the addressed Service’s limit: 429 with retry-after and x-ratelimit headers, flag RL, backend untouched', async () => {
  traffic('svc', { rateLimit: limit({ total: { requestsPerSecond: 1, burst: 2 } }) });
  const seenBefore = sc.v1.seen.length + sc.v2.seen.length;
  const results = [await get('/'), await get('/'), await get('/')];
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 429],
  );
  const limited = results[2];
  assert.equal(limited?.body, 'local_rate_limited\n');
  assert.equal(limited?.headers['retry-after'], '1');
  assert.equal(limited?.headers['x-ratelimit-limit'], '1, 1;w=1');
  assert.equal(limited?.headers['x-ratelimit-remaining'], '0');
  assert.equal(limited?.headers['x-ratelimit-reset'], '1');
  assert.equal(sc.v1.seen.length + sc.v2.seen.length - seenBefore, 2);
  await eventually(() => assert.equal(sc.fx.records.length, 3));
  assert.deepEqual(
    sc.fx.records.map((r) => [r.responseCode, r.responseFlags]),
    [
      [200, '-'],
      [200, '-'],
      [429, 'RL'],
    ],
  );
});

test('the backend Service the route chose is limited too, and an override names the caller in place of perIdentity', async () => {
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')] } }]));
  traffic('svc-v1', { rateLimit: limit({ total: { requestsPerSecond: 1, burst: 1 } }) });
  assert.deepEqual([(await get('/')).status, (await get('/')).status], [200, 429]);

  sc.fx.state.traffic.clear();
  traffic('svc', {
    rateLimit: limit({
      perIdentity: { requestsPerSecond: 100, burst: 100 },
      overrides: [{ bucket: { requestsPerSecond: 2, burst: 1 }, identities: [CLIENT_ID] }],
    }),
  });
  const r = [await get('/'), await get('/')];
  assert.deepEqual(
    r.map((x) => x.status),
    [200, 429],
  );
  assert.equal(r[1]?.headers['x-ratelimit-limit'], '2, 2;w=1');
});

const fault = (f: Omit<Extract<RouteFilter, { type: 'Fault' }>, 'type' | 'fault'>): RouteFilter => ({
  type: 'Fault',
  fault: `${NS}/f`,
  ...f,
});

test('a fault abort answers at once with its status and Envoy’s body, flag FI; the backend never sees it', async () => {
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([{ rule: { backends: [backend('svc-v1')], filters: [fault({ abort: { percent: 100, httpStatus: 503 } })] } }]),
  );
  const before = sc.v1.seen.length;
  const r = await get('/');
  assert.equal(r.status, 503);
  assert.equal(r.body, 'fault filter abort\n');
  assert.equal(sc.v1.seen.length, before);
  await eventually(() =>
    assert.deepEqual(
      sc.fx.records.map((x) => [x.responseCode, x.responseFlags, x.attempts]),
      [[503, 'FI', 0]],
    ),
  );
  // A gRPC abort to an HTTP/1.1 client: 200 with grpc-status in the head, as Envoy answers any request.
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([{ rule: { backends: [backend('svc-v1')], filters: [fault({ abort: { percent: 100, grpcStatus: 14 } })] } }]),
  );
  const g = await get('/');
  assert.equal(g.status, 200);
  assert.equal(g.headers['grpc-status'], '14');
  assert.equal(g.headers['grpc-message'], 'fault filter abort');
  assert.equal(g.body, '');
});

test('a gRPC fault abort over h2: a trailers-only 200 with grpc-status, recorded with its gRPC status', async () => {
  sc.setProtocol('GRPC');
  try {
    sc.fx.state.routes.set(
      host('svc'),
      routeSet([{ rule: { backends: [backend('svc-v1')], filters: [fault({ abort: { percent: 100, grpcStatus: 14 } })] } }]),
    );
    const tunnel = await sc.fx.open(`${VIP.svc}:80`);
    const s = h2Connect(`http://${VIP.svc}`, { createConnection: () => tunnel });
    try {
      const req = s.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      let headers: IncomingHttpHeaders = {};
      let data = 0;
      req.on('response', (h) => (headers = h));
      req.on('data', (c: Buffer) => (data += c.length));
      await new Promise<void>((resolve, reject) => {
        req.once('end', resolve);
        req.once('error', reject);
      });
      assert.equal(headers[':status'], 200);
      assert.equal(headers['grpc-status'], '14');
      assert.equal(headers['content-type'], 'application/grpc');
      assert.equal(data, 0, 'trailers-only: no DATA');
    } finally {
      s.destroy();
    }
    await eventually(() =>
      assert.deepEqual(
        sc.fx.records.map((x) => [x.protocol, x.responseCode, x.grpcStatus, x.responseFlags]),
        [['grpc', 200, 14, 'FI']],
      ),
    );
  } finally {
    sc.setProtocol('HTTP11');
  }
});

test('a fault delay holds the request, then it is served (flag DI); it counts toward timeouts.request', async () => {
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([{ rule: { backends: [backend('svc-v1')], filters: [fault({ delay: { percent: 100, fixedDelayMs: 200 } })] } }]),
  );
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.ok(r.ms >= 195, `served after ${r.ms} ms`);
  await eventually(() =>
    assert.deepEqual(
      sc.fx.records.map((x) => [x.responseCode, x.responseFlags]),
      [[200, 'DI']],
    ),
  );
  // Delay and abort both drawn: the delay first, then the abort.
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([
      {
        rule: {
          backends: [backend('svc-v1')],
          filters: [fault({ delay: { percent: 100, fixedDelayMs: 100 }, abort: { percent: 100, httpStatus: 418 } })],
        },
      },
    ]),
  );
  const both = await get('/');
  assert.equal(both.status, 418);
  assert.ok(both.ms >= 95, `aborted after ${both.ms} ms`);
  // A delay longer than timeouts.request: 504 at the deadline.
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([
      {
        rule: { backends: [backend('svc-v1')], requestTimeoutMs: 150, filters: [fault({ delay: { percent: 100, fixedDelayMs: 5_000 } })] },
      },
    ]),
  );
  const cut = await get('/');
  assert.equal(cut.status, 504);
  assert.ok(cut.ms < 1_000, `answered after ${cut.ms} ms`);
});

test('an unresolved filter: 500 with its reason in the body, flag -, the error logged; the backend never sees it', async () => {
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([
      {
        rule: {
          backends: [backend('svc-v1')],
          filters: [
            { type: 'RequestHeaderModifier', modifier: { set: [], add: [], remove: [] } },
            { type: 'Invalid', reason: 'ExtensionRef ambit.dev/HTTPFault "missing" not found' },
          ],
        },
      },
    ]),
  );
  const before = sc.v1.seen.length;
  const r = await get('/');
  assert.equal(r.status, 500);
  assert.match(r.body, /default\/r#0: ExtensionRef ambit.dev\/HTTPFault "missing" not found/);
  assert.equal(sc.v1.seen.length, before);
  await eventually(() => assert.equal(sc.fx.records.length, 1));
  assert.equal(sc.fx.records[0]?.responseFlags, '-');
  assert.match(sc.fx.records[0]?.error ?? '', /not found/);
});

test('the retry budget caps retries against a backend that answers 503 to everything', async () => {
  // 20 % of the requests, no floor: 50 requests earn exactly 10 retries, whatever `attempts: 3` asks.
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([{ rule: { backends: [backend('svc-v1')], retry: { attempts: 3, codes: [503], backoffMs: 1 } } }]),
  );
  traffic('svc-v1', { retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 0, ttlMs: 60_000 } });
  const before = sc.v1.seen.length;
  for (let i = 0; i < 50; i++) assert.equal((await get('/status?code=503')).status, 503);
  assert.equal(sc.v1.seen.length - before, 60);
  const count = (outcome: string): number => sc.fx.retries.filter((r) => r.outcome === outcome).length;
  assert.equal(count('sent'), 10);
  // Every request ends on a refused retry: the 40 that earned none, and the 10 whose one retry failed again.
  assert.equal(count('budget_exhausted'), 50);
  assert.ok(sc.fx.retries.every((r) => r.service === host('svc-v1')));
});
