import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '@ambit/core';
import type { LoadBalancer, ServiceTraffic, TrafficPolicy } from '@ambit/core/traffic';
import { manualClock } from '@ambit/core/testing/clock-and-issuer';
import { makeService, makeWorkload } from '../../testing/fixture.ts';
import { endpointKey } from '../proxy/balancer.ts';
import { WaypointError } from '../proxy/errors.ts';
import type { Endpoint } from '../proxy/proxy-inputs.ts';
import { cookieValue, hashRequest, queryParameter } from './hash-key.ts';
import { createUpstreamCluster, type Lease, type UpstreamCluster } from './upstream-cluster.ts';

const SVC: Service = makeService('svc', '10.96.0.10', [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }]);
const endpoints = (n: number, from = 1): Endpoint[] =>
  Array.from({ length: n }, (_, i) => ({ workload: makeWorkload(`pod-${from + i}`, `10.0.0.${from + i}`, {}), port: 8080 }));
const OUTLIER = {
  consecutive5xxErrors: 1,
  consecutiveGatewayErrors: 0,
  intervalMs: 1_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
  minHealthPercent: 0,
};

function cluster(policy: TrafficPolicy, subsets: ServiceTraffic['subsets'] = [], random: () => number = Math.random) {
  const events: string[] = [];
  const traffic: ServiceTraffic = { service: { namespace: 'default', hostname: SVC.hostname }, trafficPolicy: policy, subsets };
  const c = createUpstreamCluster({
    service: SVC,
    port: 80,
    traffic,
    clock: manualClock(0),
    onOutlier: (_s, key, event) => events.push(`${key} ${event}`),
    random,
  });
  return { c, events };
}
const lb = (simple: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH'): LoadBalancer => ({ kind: 'simple', simple });
const name = (e: Endpoint | undefined): string => e?.workload.name ?? 'none';
const admitNow = (c: UpstreamCluster, e: Endpoint): Lease => c.admit(e, endpointKey(e), 'h1', undefined) as Lease;

test('ROUND_ROBIN goes in order, skips an ejected endpoint, and keeps its position across a new endpoint array', () => {
  const { c } = cluster({ loadBalancer: lb('ROUND_ROBIN'), outlierDetection: OUTLIER });
  const eps = endpoints(3);
  const order = Array.from({ length: 6 }, () => name(c.pick(eps, undefined, undefined)));
  assert.deepEqual(order, ['pod-1', 'pod-2', 'pod-3', 'pod-1', 'pod-2', 'pod-3']);
  c.report('10.0.0.2:8080', 500);
  assert.deepEqual(
    Array.from({ length: 4 }, () => name(c.pick(eps, undefined, undefined))),
    ['pod-1', 'pod-3', 'pod-1', 'pod-3'],
  );
  // A new generation's array with the same endpoints: position and ejection survive.
  assert.equal(name(c.pick([...eps], undefined, undefined)), 'pod-1');
  c.close();
});

test('RANDOM and PASSTHROUGH spread evenly; LEAST_REQUEST prefers the endpoint with fewer requests in flight', () => {
  for (const kind of ['RANDOM', 'PASSTHROUGH'] as const) {
    const { c } = cluster({ loadBalancer: lb(kind) });
    const eps = endpoints(4);
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const n = name(c.pick(eps, undefined, undefined));
      counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    assert.equal(counts.size, 4);
    for (const v of counts.values()) assert.ok(v > 800 && v < 1200, `${kind}: ${[...counts.values()].join(',')}`);
  }
  const { c } = cluster({ loadBalancer: lb('LEAST_REQUEST') });
  const eps = endpoints(2);
  const busy = [admitNow(c, eps[0] as Endpoint), admitNow(c, eps[0] as Endpoint)];
  for (let i = 0; i < 50; i++) assert.equal(name(c.pick(eps, undefined, undefined)), 'pod-2');
  for (const l of busy) l.release();
});

test('retries avoid endpoints already tried while another usable one remains', () => {
  const { c } = cluster({ loadBalancer: lb('RANDOM'), outlierDetection: OUTLIER });
  const eps = endpoints(3);
  for (let i = 0; i < 50; i++) assert.equal(name(c.pick(eps, new Set(['10.0.0.1:8080', '10.0.0.2:8080']), undefined)), 'pod-3');
  c.report('10.0.0.3:8080', 503);
  const tried = new Set(['10.0.0.1:8080', '10.0.0.2:8080']);
  assert.notEqual(name(c.pick(eps, tried, undefined)), 'pod-3', 'all usable ones tried: a tried one again, never the ejected one');
  c.close();
});

test('every endpoint ejected and minHealthPercent 0: no endpoint (no healthy upstream); above 0: panic sends to all', () => {
  const { c } = cluster({ loadBalancer: lb('ROUND_ROBIN'), outlierDetection: OUTLIER });
  const eps = endpoints(2);
  c.pick(eps, undefined, undefined);
  c.report('10.0.0.1:8080', 500);
  c.report('10.0.0.2:8080', 500);
  assert.equal(c.pick(eps, undefined, undefined), undefined);
  c.close();
  const panic = cluster({ loadBalancer: lb('ROUND_ROBIN'), outlierDetection: { ...OUTLIER, minHealthPercent: 50 } });
  panic.c.pick(eps, undefined, undefined);
  panic.c.report('10.0.0.1:8080', 500);
  panic.c.report('10.0.0.2:8080', 500);
  assert.equal(panic.events.length, 2, 'the second ejection is made (50 % healthy is not below 50 %)');
  assert.notEqual(panic.c.pick(eps, undefined, undefined), undefined, 'now 0 % healthy: panic, ejections ignored');
  panic.c.close();
});

for (const algorithm of [
  { type: 'RING_HASH', minimumRingSize: 1024 },
  { type: 'MAGLEV', tableSize: 65537 },
] as const) {
  test(`consistent hash (${algorithm.type}) on a header: a user sticks; an ejected endpoint's users move, the others stay`, () => {
    const { c } = cluster({
      loadBalancer: { kind: 'consistentHash', key: { type: 'header', name: 'x-user' }, algorithm },
      outlierDetection: OUTLIER,
    });
    const eps = endpoints(3);
    const pickFor = (user: string): string => {
      const h = c.hashRequest({ headers: [['x-user', user]], path: '/', clientIp: '10.1.1.1' });
      return name(c.pick(eps, undefined, h?.hash));
    };
    const first = new Map<string, string>();
    for (let u = 0; u < 60; u++) first.set(`u${u}`, pickFor(`u${u}`));
    for (let u = 0; u < 60; u++) assert.equal(pickFor(`u${u}`), first.get(`u${u}`));
    assert.equal(new Set(first.values()).size, 3, 'users spread over the endpoints');
    c.report('10.0.0.1:8080', 500);
    for (const [u, was] of first) {
      const now = pickFor(u);
      if (was === 'pod-1') assert.notEqual(now, 'pod-1');
      else assert.equal(now, was, `${u} moved`);
    }
    c.close();
  });
}

test('hash keys: header, cookie (generated with set-cookie when it has a TTL), source IP, query parameter', () => {
  const req = { headers: [['cookie', 'a=1; sticky=abc']] as Array<[string, string]>, path: '/p?x=1&q=v%20w', clientIp: '10.1.1.9' };
  assert.equal(hashRequest({ type: 'header', name: 'x-user' }, req).hash, undefined, 'absent header: random');
  assert.equal(cookieValue(req.headers, 'sticky'), 'abc');
  assert.equal(queryParameter(req.path, 'q'), 'v w');
  assert.equal(queryParameter(req.path, 'nope'), undefined);
  const byCookie = hashRequest({ type: 'cookie', name: 'sticky', ttlMs: 60_000 }, req);
  assert.deepEqual(byCookie, { hash: hashRequest({ type: 'cookie', name: 'sticky' }, req).hash });
  const generated = hashRequest({ type: 'cookie', name: 'other', path: '/', ttlMs: 60_000 }, req);
  assert.match(generated.setCookie ?? '', /^other=([0-9a-f]{16}); Path=\/; Max-Age=60; HttpOnly$/);
  const value = /^other=([0-9a-f]+)/.exec(generated.setCookie ?? '')?.[1] ?? '';
  const again = hashRequest({ type: 'cookie', name: 'other', ttlMs: 60_000 }, { ...req, headers: [['cookie', `other=${value}`]] });
  assert.equal(again.hash, generated.hash, 'the next request carrying the cookie hashes the same');
  assert.equal(
    hashRequest({ type: 'cookie', name: 'other', ttlMs: 0 }, req).setCookie?.includes('Max-Age'),
    false,
    'TTL 0: session cookie',
  );
  assert.equal(hashRequest({ type: 'cookie', name: 'other' }, req).hash, undefined, 'no TTL: not generated');
  assert.equal(hashRequest({ type: 'sourceIp' }, req).hash, hashRequest({ type: 'sourceIp' }, { ...req, path: '/' }).hash);
  assert.notEqual(hashRequest({ type: 'queryParameter', name: 'q' }, req).hash, undefined);
});

test('subsets: an endpoint in a subset with a trafficPolicy uses the subset limits, merged over the Service policy', async () => {
  const eps = endpoints(3);
  const { c } = cluster({ loadBalancer: lb('ROUND_ROBIN'), connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1 } }, [
    { name: 'v2', workloads: [eps[1]?.workload.uid ?? ''], trafficPolicy: { connectionPool: { maxConnections: 2 } } },
    { name: 'named-only', workloads: [eps[2]?.workload.uid ?? ''] },
  ]);
  c.pick(eps, undefined, undefined);
  const [e1, e2, e3] = eps as [Endpoint, Endpoint, Endpoint];
  const a = admitNow(c, e1);
  const isOverflow = (err: unknown): boolean => err instanceof WaypointError && err.code === 'UPSTREAM_OVERFLOW';
  const queued = c.admit(e3, endpointKey(e3), 'h1', undefined);
  assert.ok(queued instanceof Promise, 'pod-3 (a subset without a policy) shares the Service cluster with pod-1: it waits');
  assert.throws(() => c.admit(e3, endpointKey(e3), 'h1', undefined), isOverflow, 'and the queue (1) is full');
  // The subset's connectionPool replaces the Service's whole field: 2 connections, no pending limit.
  const b1 = admitNow(c, e2);
  const b2 = admitNow(c, e2);
  const b3 = c.admit(e2, endpointKey(e2), 'h1', undefined);
  assert.ok(b3 instanceof Promise);
  assert.ok(c.admit(e2, endpointKey(e2), 'h1', undefined) instanceof Promise, 'no pending limit in the subset');
  assert.equal(b1.pool?.maxConnections, 2, 'the subset pool settings');
  assert.equal(a.pool?.maxConnections, 1);
  assert.deepEqual(c.stats(), { pending: 3, ejected: 0 });
  a.release();
  (await queued).release();
  b1.release();
  b2.release();
  c.close();
});
