import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { Client } from 'undici';
import { eventually } from '@ambit/core/testing';
import type { ServiceTraffic, TrafficPolicy } from '@ambit/core/traffic';
import {
  makeService,
  makeWorkload,
  NS,
  rawExchange,
  startBackend,
  startWaypointFixture,
  type Backend,
  type WaypointFixture,
} from '../../testing/fixture.ts';

// DestinationRule traffic policy on the data path (issue 14 §2): real HBONE, real backends. Service `svc`
// (10.96.0.20:80) is backed by pods b1, b2, b3; Service `one` (10.96.0.21:80) by b1 only; Service `tcp` (10.96.0.22:80,
// declared TCP) by b1 and a pod whose ztunnel does not answer (127.0.0.29).
const host = (name: string): string => `${name}.${NS}.svc.cluster.local`;
let fx: WaypointFixture;
let backends: Backend[];
const clients: Client[] = [];

before(async () => {
  fx = await startWaypointFixture();
  backends = [];
  for (const [i, name] of ['b1', 'b2', 'b3'].entries()) {
    const ip = `127.0.0.${21 + i}`;
    backends.push(await startBackend(name, ip));
    await fx.addPod(ip, name);
  }
  const ports = backends.map((b) => [{ servicePort: 80, targetPort: b.port, appProtocol: 'HTTP11' as const }]);
  fx.state.services = [makeService('svc', '10.96.0.20', ports[0] ?? []), makeService('one', '10.96.0.21', ports[0] ?? [])];
  const tcp = [{ servicePort: 80, targetPort: backends[0]?.port ?? 0, appProtocol: 'TCP' as const }];
  fx.state.services.push(makeService('tcp', '10.96.0.22', tcp));
  fx.state.workloads = backends.map((b, i) =>
    makeWorkload(b.name, b.ip, {
      [`${NS}/${host('svc')}`]: ports[i] ?? [],
      ...(i === 0 ? { [`${NS}/${host('one')}`]: ports[i] ?? [], [`${NS}/${host('tcp')}`]: tcp } : {}),
    }),
  );
  fx.state.workloads.push(makeWorkload('dead', '127.0.0.29', { [`${NS}/${host('tcp')}`]: tcp }));
  fx.state.bump();
});
after(async () => {
  await Promise.all(clients.map((c) => c.destroy()));
  await fx.close();
  await Promise.all(backends.map((b) => b.close()));
});
beforeEach(() => {
  fx.state.traffic.clear();
  fx.state.bump();
  fx.records.length = 0;
  fx.outliers.length = 0;
});

function setPolicy(service: string, trafficPolicy: TrafficPolicy): void {
  const t: ServiceTraffic = { service: { namespace: NS, hostname: host(service) }, trafficPolicy, subsets: [] };
  fx.state.traffic.set(`${NS}/${host(service)}`, t);
  fx.state.bump();
}

function client(authority = '10.96.0.20:80'): Client {
  const c = new Client(`http://${authority}`, {
    connect: (_o, cb) => {
      fx.open(authority).then(
        (s) => cb(null, s as unknown as Socket),
        (err: unknown) => cb(err as Error, null),
      );
    },
  });
  clients.push(c);
  return c;
}

async function get(c: Client, path: string, headers: Record<string, string> = {}) {
  const res = await c.request({ path, method: 'GET', headers: { host: 'svc', ...headers } });
  await res.body.text();
  return { status: res.statusCode, backend: res.headers['x-backend'] as string | undefined, setCookie: res.headers['set-cookie'] };
}

test('consistentHash on a header: each user always reaches the same endpoint, users spread; a cookie with a TTL is set and sticks', async () => {
  setPolicy('svc', {
    loadBalancer: {
      kind: 'consistentHash',
      key: { type: 'header', name: 'x-user' },
      algorithm: { type: 'RING_HASH', minimumRingSize: 1024 },
    },
  });
  const c = client();
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 4; round++) {
    for (let u = 0; u < 25; u++) {
      const r = await get(c, '/', { 'x-user': `user-${u}` });
      assert.equal(r.status, 200);
      const set = seen.get(`user-${u}`) ?? new Set<string>();
      set.add(r.backend ?? '?');
      seen.set(`user-${u}`, set);
    }
  }
  for (const [u, set] of seen) assert.equal(set.size, 1, `${u} reached ${[...set].join(',')}`);
  assert.equal(new Set([...seen.values()].map((s) => [...s][0])).size, 3, 'users spread over the three endpoints');

  setPolicy('svc', {
    loadBalancer: {
      kind: 'consistentHash',
      key: { type: 'cookie', name: 'sticky', path: '/', ttlMs: 30_000 },
      algorithm: { type: 'MAGLEV', tableSize: 65537 },
    },
  });
  const first = await get(c, '/');
  const cookie = String(first.setCookie);
  assert.match(cookie, /^sticky=[0-9a-f]+; Path=\/; Max-Age=30; HttpOnly$/);
  for (let i = 0; i < 10; i++) {
    const r = await get(c, '/', { cookie: cookie.split(';')[0] ?? '' });
    assert.equal(r.backend, first.backend);
    assert.equal(r.setCookie, undefined, 'a request with the cookie gets none');
  }
});

test('connection pool: maxConnections 1 and http1MaxPendingRequests 1 — of 20 concurrent slow requests 2 succeed, 18 get 503 UO at once', async () => {
  setPolicy('one', { connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1 } });
  const cs = Array.from({ length: 20 }, () => client('10.96.0.21:80'));
  // Tunnels up first, so the 20 requests arrive together.
  await Promise.all(cs.map((c) => get(c, '/').catch(() => undefined)));
  fx.records.length = 0;
  const t0 = performance.now();
  const results = await Promise.all(
    cs.map(async (c) => {
      const r = await get(c, '/sleep?ms=600');
      return { ...r, ms: performance.now() - t0 };
    }),
  );
  const ok = results.filter((r) => r.status === 200);
  const overflow = results.filter((r) => r.status === 503);
  assert.equal(ok.length, 2, JSON.stringify(results.map((r) => r.status)));
  assert.equal(overflow.length, 18);
  for (const r of overflow) assert.ok(r.ms < 500, `a 503 came after ${Math.round(r.ms)} ms: not at once`);
  assert.ok(Math.max(...ok.map((r) => r.ms)) >= 1_100, 'the pending one waited for the first');
  await eventually(() => assert.equal(fx.records.length, 20));
  assert.equal(fx.records.filter((r) => r.responseFlags === 'UO' && r.responseCode === 503).length, 18);
  assert.equal(fx.records.filter((r) => r.responseFlags === '-' && r.responseCode === 200).length, 2);
});

test('a pending request whose client goes away leaves the queue: the next one waits instead of overflowing', async () => {
  setPolicy('one', { connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1 } });
  const [c1, c2, c3] = [client('10.96.0.21:80'), client('10.96.0.21:80'), client('10.96.0.21:80')];
  const slow = get(c1, '/sleep?ms=800');
  await eventually(() => assert.ok(backends[0]?.seen.some((r) => r.url === '/sleep?ms=800')));
  const abandoned = get(c2, '/sleep?ms=1').catch((err: unknown) => err);
  await eventually(() => assert.equal(fx.listener.stats().pendingRequests, 1));
  await c2.destroy();
  await abandoned;
  await eventually(() => assert.equal(fx.listener.stats().pendingRequests, 0));
  await eventually(() => assert.equal(fx.records.find((r) => r.path === '/sleep?ms=1')?.responseFlags, 'DC'));
  const third = await get(c3, '/sleep?ms=2');
  assert.equal(third.status, 200, 'queued behind the slow one, not 503 UO');
  assert.equal((await slow).status, 200);
  assert.equal(backends[0]?.seen.filter((r) => r.url === '/sleep?ms=1').length, 0, 'the abandoned request never reached the backend');
});

test('idleTimeout closes an idle upstream HTTP/1.1 connection', async () => {
  setPolicy('one', { connectionPool: { idleTimeoutMs: 200 } });
  const pod = fx.pods.get(backends[0]?.ip ?? '');
  assert.ok(pod !== undefined);
  const closedBefore = pod.peers.length;
  assert.equal((await get(client('10.96.0.21:80'), '/')).status, 200);
  await eventually(() => assert.ok(pod.peers.length - closedBefore >= 1, 'the connection closed after 200 ms idle'), 2_000);
});

test('outlier detection: an endpoint answering 500 is ejected after 3, the next 300 requests succeed, it returns after baseEjectionTime', async () => {
  setPolicy('svc', {
    outlierDetection: {
      consecutive5xxErrors: 3,
      consecutiveGatewayErrors: 0,
      intervalMs: 100,
      baseEjectionTimeMs: 800,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    },
  });
  const cs = Array.from({ length: 4 }, () => client());
  const failing = '/fail-on?backend=b3&status=500';
  let sent = 0;
  while (fx.outliers.length === 0 && sent < 100) {
    await get(cs[0] as Client, failing);
    sent++;
  }
  assert.deepEqual(fx.outliers, [{ service: host('svc'), endpoint: `${backends[2]?.ip}:${backends[2]?.port}`, event: 'ejected' }]);
  const statuses = (await Promise.all(cs.map(async (c) => Promise.all([...Array(75)].map(() => get(c, failing)))))).flat();
  const okCount = statuses.filter((r) => r.status === 200).length;
  assert.ok(okCount >= 297, `${okCount} of 300 succeeded`);
  await eventually(() => assert.equal(fx.outliers.at(-1)?.event, 'returned'), 3_000);
  await eventually(async () => assert.equal((await get(cs[1] as Client, failing)).backend, 'b3'), 2_000);
});

test('TCP passthrough under outlier detection: an endpoint that cannot be reached is ejected and skipped', async () => {
  setPolicy('tcp', {
    loadBalancer: { kind: 'simple', simple: 'ROUND_ROBIN' },
    outlierDetection: {
      consecutive5xxErrors: 1,
      consecutiveGatewayErrors: 0,
      intervalMs: 1_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 50,
      minHealthPercent: 0,
    },
  });
  const request = 'GET / HTTP/1.1\r\nhost: tcp\r\nconnection: close\r\n\r\n';
  const replies: string[] = [];
  for (let i = 0; i < 6; i++) replies.push(await rawExchange(fx, '10.96.0.22:80', request));
  assert.equal(replies.filter((r) => r.startsWith('HTTP/1.1 200')).length, 5, 'one connection to the dead pod, then none');
  assert.deepEqual(fx.outliers, [{ service: host('tcp'), endpoint: `127.0.0.29:${backends[0]?.port}`, event: 'ejected' }]);
});
