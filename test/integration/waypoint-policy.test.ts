import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { ambitctl, downAndCheckClean, pods, REPO } from './helpers/ambitctl.ts';
import { ClusterDriver } from './helpers/waypoint.ts';
import { authzChecks } from './helpers/waypoint-authz-checks.ts';
import { faultChecks, rateLimitChecks, retryBudgetChecks } from './helpers/waypoint-guard-checks.ts';
import { awaitCondition, countBy, percentile, PolicyContext, statuses } from './helpers/waypoint-policy.ts';

// Issue 14 acceptance on a 2-node local cluster: the namespace's waypoint (in the fixture) serves seven Services over
// the same three backend pods, one Service per check, so each check's DestinationRule, route, limit or fault applies
// to its own Service only and no check's state (ejections, token buckets) leaks into another. Every check applies its
// objects with kubectl, checks the status the controller writes, the traffic (one client process inside a pod,
// fixtures/waypoint/apps/http-batch.mjs) and the waypoint's metrics, then a bad version of one object (status names
// the field, traffic unchanged), and deletes what it applied. Checks in the order of the Acceptance list.
const CLUSTER = 'it-wp-policy';
const NS = 'wpp';
const GATEWAY = 'waypoint';
const FIXTURE = join(REPO, 'test', 'integration', 'fixtures', 'waypoint-policy');
const BACKENDS = ['b-1', 'b-2', 'b-3'];
const NEEDS = {
  root: true,
  executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/curl', '/usr/bin/kubectl'],
};

const k = new ClusterDriver(CLUSTER);
let ready = false;
/** Set by the first check; every later check needs the programmed waypoint. */
let context: PolicyContext | undefined;
const ctx = (): PolicyContext => context ?? assert.fail('the waypoint is not up: the first test of this file failed');

describe(
  'waypoint: L7 authorization, circuit breaking, outlier detection, load balancing, retry budget, rate limit, faults',
  { concurrency: false },
  () => {
    before(async () => {
      if (process.getuid?.() !== 0) return;
      const up = await ambitctl(CLUSTER, ['local', 'up', '-f', FIXTURE, '--nodes', '2'], { timeoutMs: 120_000 });
      assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
      ready = true;
    });

    after(async () => {
      if (process.getuid?.() !== 0) return;
      await downAndCheckClean(CLUSTER);
    });

    test('the namespace waypoint is programmed and serves every Service: requests reach all three endpoints', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      assert.ok(ready, 'the cluster did not start (see the before hook)');
      await awaitCondition(k, NS, `gateway ${GATEWAY}`, 'Programmed', 'True', { timeoutMs: 30_000 });
      const waypoint = await eventually(() => k.waypointPod(NS, GATEWAY), 20_000, 200);
      const ips = new Map((await pods(CLUSTER, NS)).map((p) => [p.name, p.ip]));
      const backendIps = BACKENDS.map((b) => ips.get(b) ?? assert.fail(`pod ${b} has an IP`));
      const c = new PolicyContext(k, CLUSTER, NS, join(FIXTURE, 'live'), waypoint, backendIps);
      const counts = await c.countsSince('api');
      const lines = await eventually(async () => {
        const l = await c.batch('http://api/hello', 30, { conns: 3 });
        assert.deepEqual(statuses(l), { 200: 30 });
        return l;
      }, 20_000);
      assert.deepEqual(Object.keys(countBy(lines, (l) => l.backend)).sort(), BACKENDS, 'every endpoint answers');
      await eventually(async () => assert.ok(((await counts())['200/-'] ?? 0) >= 30, 'the waypoint counted them'));
      context = c;
    });

    test('L7 authz: ALLOW GET /public/* from sa/client; POST, /private and another SA get 403; DENY on a header; dry run; policy explain; bad CIDR', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      await authzChecks(t, ctx());
    });

    test('connection pool: maxConnections 1, http1MaxPendingRequests 1, 20 concurrent slow requests → the excess 503 UO at once; metrics count both; a negative maxConnections changes nothing', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      const c = ctx();
      const SLOW_MS = 2000;
      const burst = () => c.batch(`http://cp/slow?sleep=${SLOW_MS}`, 20, { conns: 20 });
      try {
        await c.apply('pool.yaml');
        const accepted = await awaitCondition(k, NS, 'destinationrule cp', 'WaypointAccepted', 'True');
        assert.match(accepted.message ?? '', /waypoint/, JSON.stringify(accepted));
        const counts = await c.countsSince('cp');
        const lines = await eventually(async () => {
          const l = await burst();
          assert.ok((statuses(l)['503'] ?? 0) > 0, `the limits are in force: ${JSON.stringify(statuses(l))}`);
          return l;
        }, 15_000);
        const ok = lines.filter((l) => l.status === 200);
        const refused = lines.filter((l) => l.status === 503);
        t.diagnostic(
          `20 concurrent: ${ok.length} × 200 (${ok.map((l) => l.ms).join(', ')} ms), ${refused.length} × 503 after ${percentile(
            refused.map((l) => l.ms),
            50,
          )} ms (p50), ${percentile(
            refused.map((l) => l.ms),
            100,
          )} ms (max)`,
        );
        assert.equal(ok.length + refused.length, 20, JSON.stringify(statuses(lines)));
        assert.ok(ok.length >= 1 && ok.length <= 3, `one connection and one pending request: ${ok.length} succeed`);
        for (const l of ok) assert.ok(l.ms >= SLOW_MS, `a 200 waited for the backend: ${JSON.stringify(l)}`);
        for (const l of refused) {
          assert.equal(l.backend, '-', `the waypoint refused it, no backend answered: ${JSON.stringify(l)}`);
          assert.ok(l.ms < SLOW_MS / 2, `refused at once, not after the backend's ${SLOW_MS} ms: ${JSON.stringify(l)}`);
        }
        await eventually(async () => {
          const n = await counts();
          assert.ok((n['503/UO'] ?? 0) >= refused.length, `istio_requests_total counts the overflow with UO: ${JSON.stringify(n)}`);
          assert.ok((n['200/-'] ?? 0) >= ok.length, `and the successes: ${JSON.stringify(n)}`);
        });

        // Bad field: the update would let all 20 through; it is refused by status and the limits stay.
        await c.apply('pool-bad.yaml');
        const bad = await awaitCondition(k, NS, 'destinationrule cp', 'WaypointAccepted', 'False', {
          message: /spec\.trafficPolicy\.connectionPool\.tcp\.maxConnections/,
        });
        t.diagnostic(`maxConnections -1: ${JSON.stringify(bad)}`);
        const again = statuses(await burst());
        assert.ok((again['503'] ?? 0) >= 15, `the previous limits still apply: ${JSON.stringify(again)}`);
      } finally {
        await c.remove('pool.yaml');
      }
    });

    test('outlier detection: 3 endpoints, one answering 500 → ejected after 3 errors, ≥ 99 % of the next 300 succeed, back after baseEjectionTime', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      const c = ctx();
      const url = 'http://od/?fail=b-3:500';
      try {
        await c.apply('outlier.yaml');
        await awaitCondition(k, NS, 'destinationrule od', 'WaypointAccepted', 'True');
        // One at a time, so b-3's errors are consecutive; until the waypoint reports the ejection.
        const ejectedAt = await eventually(
          async () => {
            const l = await c.batch(url, 15, { conns: 1 });
            const failures = l.filter((x) => x.status === 500);
            assert.ok(failures.length >= 3, `b-3 answered 500 three times: ${JSON.stringify(countBy(l, (x) => x.backend))}`);
            assert.ok((await c.metric('ambit_waypoint_outlier_ejections_total')) >= 1, 'the waypoint ejected it');
            return Date.now();
          },
          15_000,
          0,
        );
        const next = await c.batch(url, 300, { conns: 4 });
        const elapsed = Date.now() - ejectedAt;
        const ok = next.filter((l) => l.status === 200).length;
        t.diagnostic(
          `after the ejection: ${ok}/300 succeeded in ${elapsed} ms; by endpoint ${JSON.stringify(countBy(next, (l) => l.backend))}`,
        );
        assert.ok(ok >= 297, `≥ 99 % of the next 300 succeed: ${ok}`);
        // Back after baseEjectionTime (4 s, reviewed every 1 s): b-3 answers again.
        const back = await eventually(
          async () => {
            const l = await c.batch(url, 6, { conns: 1 });
            assert.ok(
              l.some((x) => x.backend === 'b-3'),
              'b-3 gets traffic again',
            );
            return Date.now() - ejectedAt;
          },
          15_000,
          200,
        );
        t.diagnostic(`b-3 answered again ${back} ms after the ejection was seen`);
        assert.ok(back >= 3000, `not before baseEjectionTime: ${back} ms`);
      } finally {
        await c.remove('outlier.yaml');
      }
    });

    test('load balancing: consistentHash on x-user keeps each user on one endpoint over 200 requests; LEAST_REQUEST sends fewer to a slow endpoint than ROUND_ROBIN', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      const c = ctx();
      try {
        await c.apply('lb-hash.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        await eventually(async () => {
          const l = await c.batch('http://lb/', 9, { conns: 1, headers: ['x-user: probe'] });
          assert.equal(new Set(l.map((x) => x.backend)).size, 1, 'one user, one endpoint');
        }, 10_000);
        const lines = await c.batch('http://lb/', 200, { conns: 4, headers: ['x-user: user-{i%10}'] });
        assert.deepEqual(statuses(lines), { 200: 200 });
        const byUser = new Map<number, Set<string>>();
        for (const l of lines) byUser.set(l.i % 10, (byUser.get(l.i % 10) ?? new Set()).add(l.backend));
        const placement = [...byUser].map(([u, s]) => `user-${u}→${[...s].join('|')}`);
        t.diagnostic(placement.join(' '));
        for (const [u, s] of byUser) assert.equal(s.size, 1, `user-${u} always reaches the same endpoint: ${[...s].join(', ')}`);
        assert.ok(new Set(lines.map((l) => l.backend)).size >= 2, `users spread across endpoints: ${placement.join(' ')}`);

        // One slow endpoint (b-3, 200 ms), 6 requests at a time: how many does each policy send it?
        const slowShare = async (): Promise<number> => {
          const l = await c.batch('http://lb/?slow=b-3:200', 150, { conns: 6 });
          assert.deepEqual(statuses(l), { 200: 150 });
          return l.filter((x) => x.backend === 'b-3').length;
        };
        await c.apply('lb-least-request.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        // In force once one user no longer sticks to one endpoint.
        await eventually(async () => {
          const l = await c.batch('http://lb/', 9, { conns: 1, headers: ['x-user: probe'] });
          assert.ok(new Set(l.map((x) => x.backend)).size > 1, 'no longer hashed');
        }, 10_000);
        const leastRequest = await slowShare();
        await c.apply('lb-round-robin.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        // In force once 6 requests in a row visit each endpoint twice.
        await eventually(async () => {
          const l = await c.batch('http://lb/', 6, { conns: 1 });
          assert.deepEqual(Object.values(countBy(l, (x) => x.backend)), [2, 2, 2], 'round robin');
        }, 10_000);
        const roundRobin = await slowShare();
        t.diagnostic(`requests to the slow endpoint out of 150: LEAST_REQUEST ${leastRequest}, ROUND_ROBIN ${roundRobin}`);
        assert.ok(roundRobin >= 45 && roundRobin <= 55, `ROUND_ROBIN gives every endpoint a third: ${roundRobin}`);
        assert.ok(leastRequest <= roundRobin * 0.7, `LEAST_REQUEST sends fewer to the slow endpoint: ${leastRequest} vs ${roundRobin}`);
      } finally {
        await c.remove('lb-hash.yaml');
      }
    });

    test('retry budget: a backend answering 503 to everything with retry attempts 3 sees ≤ 1.2 × the requests + the floor; a bogus annotation is reported and the default applies', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      await retryBudgetChecks(t, ctx());
    });

    test('rate limit: 10 rps, 30 rps offered for 3 s → 30 ± 3 succeed, the rest 429 with retry-after and x-ratelimit-*; requestsPerSecond 0 → 422; a missing target → status', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      await rateLimitChecks(t, ctx());
    });

    test('faults: 10 % abort 503 over 2 000 requests → 10 % ± 2 points (FI); 200 ms delay on all → p50 ≥ 200 ms (DI); both statuses at once → refused, the 10 % stays', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      await faultChecks(t, ctx());
    });
  },
);
