import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { CLIENT_ID, rawExchange, WAYPOINT_ID, type SeenRequest } from '../../testing/fixture.ts';
import { backend, host, routeSet, startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

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

async function get(
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await sc.client().request({ path, method, headers: { host: 'svc', ...headers } });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

test('no route: the Service endpoints, least-request; records carry the caller and the waypoint is the peer upstream', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = await get('/hello');
    assert.equal(r.status, 200);
    seen.add((JSON.parse(r.text) as SeenRequest).backend);
  }
  assert.deepEqual([...seen].sort(), ['v1', 'v2']);
  await eventually(() => assert.equal(sc.fx.records.length, 20));
  const rec = sc.fx.records[0];
  assert.ok(rec !== undefined);
  assert.equal(rec.sourcePrincipal, CLIENT_ID);
  assert.equal(rec.responseCode, 200);
  assert.equal(rec.responseFlags, '-');
  assert.equal(rec.service?.hostname, host('svc'));
  assert.ok(sc.fx.pods.get('127.0.0.2')?.peers.every((p) => p === WAYPOINT_ID));
});

test('forwarding headers: hop-by-hop removed, x-forwarded-for appended, x-request-id and traceparent generated', async () => {
  const raw = await rawExchange(
    sc.fx,
    `${VIP.svc}:80`,
    'GET /h HTTP/1.1\r\nhost: svc\r\nconnection: close, x-secret\r\nx-secret: 1\r\nkeep-alive: 5\r\nx-forwarded-for: 1.2.3.4\r\ntracestate: a=b\r\n\r\n',
  );
  // One chunk, then the last chunk (the backend streams its JSON; connection: close ends the tunnel after it).
  const body = /\r\n\r\n[0-9a-f]+\r\n([^]*)\r\n0\r\n\r\n$/.exec(raw)?.[1] ?? '';
  const s = JSON.parse(body) as SeenRequest;
  assert.equal(s.headers['keep-alive'], undefined);
  assert.equal(s.headers['x-secret'], undefined);
  assert.equal(s.headers['x-forwarded-for'], '1.2.3.4, 10.1.1.1');
  assert.match(String(s.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.match(String(s.headers['traceparent']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.equal(s.headers['tracestate'], 'a=b');
  const given = await get('/h', { 'x-request-id': 'abc', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const g = JSON.parse(given.text) as SeenRequest;
  assert.equal(g.headers['x-request-id'], 'abc');
  assert.equal(g.headers['traceparent'], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
});

test('weighted backends are chosen per request on one keep-alive connection (90/10)', async () => {
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1', 90), backend('svc-v2', 10)] } }]));
  const client = sc.client();
  let v2 = 0;
  const n = 400;
  for (let i = 0; i < n; i++) {
    const res = await client.request({ path: '/w', method: 'GET', headers: { host: 'svc' } });
    const s = (await res.body.json()) as SeenRequest;
    if (s.backend === 'v2') v2 += 1;
  }
  // 10 % of 400 = 40; binomial sd ≈ 6: a ±4.5 sd band.
  assert.ok(v2 > 13 && v2 < 67, `v2 got ${v2} of ${n}`);
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1', 0), backend('svc-v2', 100)] } }]));
  for (let i = 0; i < 20; i++) {
    const res = await client.request({ path: '/w', method: 'GET', headers: { host: 'svc' } });
    assert.equal(((await res.body.json()) as SeenRequest).backend, 'v2');
  }
});

test('matches and filters: header match, header modifiers both ways, prefix rewrite, redirect', async () => {
  sc.fx.state.routes.set(
    host('svc'),
    routeSet([
      {
        matches: [{ headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }], queryParams: [] }],
        rule: { backends: [backend('svc-v2')] },
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/old' }, headers: [], queryParams: [] }],
        rule: { filters: [{ type: 'RequestRedirect', statusCode: 301, path: { type: 'ReplacePrefixMatch', value: '/new' } }] },
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [], queryParams: [] }],
        rule: {
          filters: [
            { type: 'URLRewrite', path: { type: 'ReplacePrefixMatch', value: '/v2' } },
            {
              type: 'RequestHeaderModifier',
              modifier: { set: [{ name: 'x-set', value: 's' }], add: [{ name: 'x-add', value: 'a' }], remove: ['x-drop'] },
            },
            { type: 'ResponseHeaderModifier', modifier: { set: [{ name: 'x-resp', value: 'r' }], add: [], remove: ['x-backend'] } },
          ],
          backends: [backend('svc-v1')],
        },
      },
      {
        matches: [{ method: 'DELETE', headers: [], queryParams: [{ type: 'Exact', name: 'force', value: '1' }] }],
        rule: { backends: [backend('svc-v2')] },
      },
    ]),
  );
  assert.equal((JSON.parse((await get('/x', { 'x-canary': 'true' })).text) as SeenRequest).backend, 'v2');
  const redirect = await get('/old/page?q=1');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers['location'], 'http://svc/new/page?q=1');
  const api = await get('/api/items?x=1', { 'x-set': 'old', 'x-drop': 'gone' });
  assert.equal(api.status, 200);
  assert.equal(api.headers['x-resp'], 'r');
  assert.equal(api.headers['x-backend'], undefined);
  const s = JSON.parse(api.text) as SeenRequest;
  assert.equal(s.url, '/v2/items?x=1');
  assert.equal(s.headers['x-set'], 's');
  assert.equal(s.headers['x-add'], 'a');
  assert.equal(s.headers['x-drop'], undefined);
  assert.equal((JSON.parse((await get('/d?force=1', {}, 'DELETE')).text) as SeenRequest).backend, 'v2');
  const none = await get('/nothing');
  assert.equal(none.status, 404);
  await eventually(() => assert.equal(sc.fx.records.at(-1)?.responseFlags, 'NR'));
});

test('a rule with no valid backend answers 500', async () => {
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [{ weight: 1, filters: [], invalidReason: 'BackendNotFound' }] } }]));
  assert.equal((await get('/')).status, 500);
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [] } }]));
  assert.equal((await get('/')).status, 500);
});

test('retries: 503 every other request succeeds with attempts 2; with attempts 0 half fail; default policy retries', async () => {
  // The backend alternates per request it sees, so a retried request costs it exactly two.
  for (const [retry, expectOk, expectSeen] of [
    [{ attempts: 2, codes: [503] }, 20, 40],
    [undefined, 20, 40],
    [{ attempts: 0, codes: [503] }, 10, 20],
  ] as const) {
    sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')], ...(retry === undefined ? {} : { retry }) } }]));
    const before = sc.v1.seen.length;
    let ok = 0;
    for (let i = 0; i < 20; i++) if ((await get('/flaky')).status === 200) ok += 1;
    assert.equal(ok, expectOk, `retry ${JSON.stringify(retry)}`);
    assert.equal(sc.v1.seen.length - before, expectSeen);
  }
  // A POST body within the replay bound is sent again on the retry.
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')], retry: { attempts: 2, codes: [503] } } }]));
  let posted = 0;
  for (let i = 0; i < 4; i++) {
    const res = await sc.client().request({ path: '/flaky', method: 'POST', headers: { host: 'svc' }, body: Buffer.alloc(1000, 1) });
    assert.equal(res.statusCode, 200);
    posted += ((await res.body.json()) as SeenRequest).bodyBytes;
  }
  assert.equal(posted, 4000);
});

test('timeouts: request timeout answers 504 UT in time; backendRequest too', async () => {
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')], requestTimeoutMs: 300 } }]));
  const t0 = performance.now();
  const r = await get('/sleep?ms=2000');
  const took = performance.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(took < 600, `took ${took} ms`);
  await eventually(() => assert.equal(sc.fx.records.at(-1)?.responseFlags, 'UT'));
  sc.fx.state.routes.set(host('svc'), routeSet([{ rule: { backends: [backend('svc-v1')], backendRequestTimeoutMs: 200 } }]));
  assert.equal((await get('/sleep?ms=1000')).status, 504);
  assert.equal((await get('/sleep?ms=10')).status, 200);
});

test('an unknown destination is refused at the tunnel (503), a VIP with no endpoints gets 503 UH', async () => {
  await assert.rejects(sc.fx.open('10.99.9.9:80'), /503/);
  const saved = sc.fx.state.workloads;
  sc.fx.state.workloads = [];
  try {
    const r = await get('/');
    assert.equal(r.status, 503);
    await eventually(() => assert.equal(sc.fx.records.at(-1)?.responseFlags, 'UH'));
  } finally {
    sc.fx.state.workloads = saved;
  }
});

test('a pod IP destination goes to that pod', async () => {
  const r = await sc.client(`127.0.0.3:${sc.v2.port}`).request({ path: '/p', method: 'GET' });
  assert.equal(((await r.body.json()) as SeenRequest).backend, 'v2');
});
