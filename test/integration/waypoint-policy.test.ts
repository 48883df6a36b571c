import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { ambitctl, downAndCheckClean, pods, REPO } from './helpers/ambitctl.ts';
import { ClusterDriver, jsonLinesWith, type WaypointPod } from './helpers/waypoint.ts';
import {
  awaitCondition,
  backendCount,
  batch,
  countBy,
  percentile,
  requestCounts,
  waypointSum,
  type BatchLine,
} from './helpers/waypoint-policy.ts';

// Issue 14 acceptance on a 2-node local cluster: the namespace's waypoint (in the fixture) serves seven Services over
// the same three backend pods, one Service per check, so each check's DestinationRule, route, limit or fault applies
// to its own Service only. Every check applies its objects with kubectl, checks the status the controller writes, the
// traffic (from one client process inside a pod, fixtures/waypoint/apps/http-batch.mjs) and the waypoint's metrics,
// then a bad version of one object (status names the field, traffic unchanged), and deletes what it applied.
const CLUSTER = 'it-wp-policy';
const NS = 'wpp';
const GATEWAY = 'waypoint';
const FIXTURE = join(REPO, 'test', 'integration', 'fixtures', 'waypoint-policy');
const LIVE = join(FIXTURE, 'live');
const BACKENDS = ['b-1', 'b-2', 'b-3'];
const NEEDS = {
  root: true,
  executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/curl', '/usr/bin/kubectl'],
};

const k = new ClusterDriver(CLUSTER);
let ready = false;
let waypoint: WaypointPod | undefined;
const ips = new Map<string, string>();

const wp = (): WaypointPod => waypoint ?? assert.fail('the waypoint is not up: the first test of this file failed');
const backendIps = (): string[] => BACKENDS.map((b) => ips.get(b) ?? assert.fail(`pod ${b} has an IP`));

/** `kubectl apply -f live/FILE` (no OpenAPI from the local API: --validate=false, local/src/api/README.md). */
async function apply(file: string): Promise<void> {
  const r = await k.kubectl(['apply', '--validate=false', '-f', join(LIVE, file)]);
  assert.equal(r.code, 0, `kubectl apply ${file}: ${r.stderr}`);
}

async function remove(...files: string[]): Promise<void> {
  for (const f of files) await k.kubectl(['delete', '--ignore-not-found', '-f', join(LIVE, f)]);
}

/** What an object's condition says about a bad field: its message names the field path. */
function namesField(c: { message?: string }, field: RegExp, what: string): void {
  assert.match(c.message ?? '', field, `${what}: the condition names the field: ${JSON.stringify(c)}`);
}

const statuses = (lines: readonly BatchLine[]): Record<string, number> => countBy(lines, (l) => l.status);

/** The waypoint's counts for a Service now and a function giving what was added since. */
async function countsSince(service: string): Promise<() => Promise<Record<string, number>>> {
  const before = await requestCounts(k, NS, wp().name, service);
  return async () => {
    const now = await requestCounts(k, NS, wp().name, service);
    return Object.fromEntries(Object.entries(now).map(([key, v]) => [key, v - (before[key] ?? 0)]));
  };
}

describe(
  'waypoint: L7 authorization, circuit breaking, outlier detection, load balancing, retry budget, rate limit, faults',
  { concurrency: false },
  () => {
    before(async () => {
      if (process.getuid?.() !== 0) return;
      const up = await ambitctl(CLUSTER, ['local', 'up', '-f', FIXTURE, '--nodes', '2'], { timeoutMs: 120_000 });
      assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
      for (const p of await pods(CLUSTER, NS)) ips.set(p.name, p.ip);
      ready = true;
    });

    after(async () => {
      if (process.getuid?.() !== 0) return;
      await downAndCheckClean(CLUSTER);
    });

    test('the namespace waypoint is programmed and serves every Service: requests reach all three endpoints', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      assert.ok(ready, 'the cluster did not start (see the before hook)');
      await awaitCondition(k, NS, `gateway ${GATEWAY}`, 'Programmed', 'True', 30_000);
      waypoint = await eventually(() => k.waypointPod(NS, GATEWAY), 20_000, 200);
      const counts = await countsSince('api');
      const lines = await eventually(async () => {
        const l = await batch(k, NS, 'client', 'http://api/hello', 30, { conns: 3 });
        assert.deepEqual(statuses(l), { 200: 30 });
        return l;
      }, 20_000);
      assert.deepEqual(Object.keys(countBy(lines, (l) => l.backend)).sort(), BACKENDS, 'every endpoint answers');
      await eventually(async () => assert.ok(((await counts())['200/-'] ?? 0) >= 30, 'the waypoint counted them'));
    });

    test('L7 authz: ALLOW GET /public/* from sa/client; POST, /private and another SA get 403; DENY on a header; dry run; policy explain; bad CIDR', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      const tag = randomBytes(4).toString('hex');
      type Answer = { status: number; body: string };
      const call = async (pod: string, method: string, path: string, headers: readonly string[] = []): Promise<Answer> => {
        const r = await k.exec(NS, pod, [
          'curl',
          '-sS',
          '--max-time',
          '10',
          '-X',
          method,
          ...headers.flatMap((h) => ['-H', h]),
          '-w',
          '\n%{http_code}',
          `http://api${path}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const nl = r.stdout.lastIndexOf('\n');
        return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
      };
      const denied = (a: Answer, what: string): void => {
        assert.equal(a.status, 403, `${what}: ${JSON.stringify(a)}`);
        assert.equal(a.body, 'RBAC: access denied', what);
      };
      const counts = await countsSince('api');
      try {
        await apply('authz.yaml');
        for (const name of ['api-allow', 'api-deny-tenant', 'waypoint-dry-deny']) {
          const c = await awaitCondition(k, NS, `authorizationpolicy ${name}`, 'WaypointAccepted', 'True');
          assert.match(c.message ?? '', /waypoint/, `${name}: the status says which waypoint enforces it: ${JSON.stringify(c)}`);
        }
        // In force at the waypoint once a POST is refused (before the policies it was answered).
        await eventually(async () => denied(await call('client', 'POST', `/public/x-${tag}`), 'POST /public/x from sa/client'), 10_000);
        assert.equal((await call('client', 'GET', `/public/a-${tag}`)).status, 200, 'GET /public/a from sa/client');
        denied(await call('client', 'GET', `/private-${tag}`), 'GET /private from sa/client');
        denied(await call('other', 'GET', `/public/a-${tag}-other`), 'GET /public/a from sa/other');
        denied(await call('client', 'GET', `/public/a-${tag}-tenant`, ['x-tenant: blocked']), 'x-tenant: blocked');
        assert.equal((await call('client', 'GET', `/public/a-${tag}-ok`, ['x-tenant: fine'])).status, 200, 'x-tenant: fine');
        assert.equal((await call('client', 'GET', '/public/dry')).status, 200, 'a dry-run DENY does not block');

        // Counted with response_code 403, logged with the deciding policy (and the dry-run one that would have denied).
        await eventually(async () => assert.ok(((await counts())['403/-'] ?? 0) >= 4, JSON.stringify(await counts())));
        const logged = (needle: string): Promise<string> =>
          eventually(() => {
            const line = jsonLinesWith(k.podLog(NS, wp().name), needle)[0];
            assert.ok(line, `the waypoint logged ${needle}`);
            return JSON.stringify(line);
          });
        const tenantLine = await logged(`/public/a-${tag}-tenant`);
        assert.match(tenantLine, /"response_code":403/);
        assert.ok(tenantLine.includes(`${NS}/api-deny-tenant`), `the access line names the deciding policy: ${tenantLine}`);
        const dryLine = await logged('/public/dry');
        assert.match(dryLine, /"response_code":200/);
        assert.ok(dryLine.includes(`${NS}/waypoint-dry-deny`), `the access line names the dry-run policy: ${dryLine}`);

        // policy explain, with the waypoint's own evaluator, for each case.
        type Explained = { decision: { allow: boolean; policy?: string; rule?: number; dryRun?: { allow: boolean; policy?: string } } };
        const explain = async (from: string, method: string, path: string, header?: string): Promise<Explained> => {
          const args = ['policy', 'explain', '--from', `${NS}/${from}`, '--to', `${NS}/api:80`, '--method', method, '--path', path];
          const r = await ambitctl(CLUSTER, [...args, ...(header === undefined ? [] : ['--header', header]), '-o', 'json']);
          assert.equal(r.code, 0, `ambitctl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
          return JSON.parse(r.stdout) as Explained;
        };
        const allowed = await explain('client', 'GET', '/public/a');
        assert.deepEqual([allowed.decision.allow, allowed.decision.policy, allowed.decision.rule], [true, `${NS}/api-allow`, 0]);
        for (const [from, method, path] of [
          ['client', 'POST', '/public/x'],
          ['client', 'GET', '/private'],
          ['other', 'GET', '/public/a'],
        ] as const) {
          const e = await explain(from, method, path);
          assert.equal(e.decision.allow, false, `${from} ${method} ${path}: ${JSON.stringify(e)}`);
          assert.ok(JSON.stringify(e).includes(`${NS}/api-allow`), `explain says why api-allow did not match: ${JSON.stringify(e)}`);
        }
        const tenant = await explain('client', 'GET', '/public/a', 'x-tenant=blocked');
        assert.deepEqual([tenant.decision.allow, tenant.decision.policy, tenant.decision.rule], [false, `${NS}/api-deny-tenant`, 0]);
        const dry = await explain('client', 'GET', '/public/dry');
        assert.equal(dry.decision.allow, true);
        assert.deepEqual(dry.decision.dryRun, { allow: false, policy: `${NS}/waypoint-dry-deny` });
        const text = await ambitctl(CLUSTER, [
          'policy',
          'explain',
          '--from',
          `${NS}/client`,
          '--to',
          `${NS}/api:80`,
          '--method',
          'GET',
          '--path',
          '/public/a',
        ]);
        t.diagnostic(`policy explain GET /public/a:\n${text.stdout}`);
        assert.match(text.stdout, /ALLOW/);
        assert.match(text.stdout, new RegExp(`${NS}/api-allow.*rules\\[0\\]`));

        // Bad field: an update with an invalid CIDR is refused by status; the last good version stays in force.
        await apply('authz-bad-cidr.yaml');
        const bad = await awaitCondition(k, NS, 'authorizationpolicy api-allow', 'WaypointAccepted', 'False');
        namesField(bad, /spec\.rules\[1\]\.from\[0\]\.source\.ipBlocks\[0\]/, 'ipBlocks 10.0.0.0/33');
        denied(await call('client', 'GET', `/private-${tag}-after`), 'GET /private after the bad update');
        assert.equal((await call('client', 'GET', `/public/a-${tag}-after`)).status, 200, 'GET /public/a after the bad update');
      } finally {
        await remove('authz.yaml');
      }
    });

    test('connection pool: maxConnections 1, http1MaxPendingRequests 1, 20 concurrent slow requests → the excess 503 UO at once; metrics count both; a negative maxConnections changes nothing', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      const SLOW_MS = 2000;
      const burst = () => batch(k, NS, 'client', `http://cp/slow?sleep=${SLOW_MS}`, 20, { conns: 20 });
      try {
        await apply('pool.yaml');
        const accepted = await awaitCondition(k, NS, 'destinationrule cp', 'WaypointAccepted', 'True');
        assert.match(accepted.message ?? '', /waypoint/, JSON.stringify(accepted));
        const counts = await countsSince('cp');
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
          const c = await counts();
          assert.ok((c['503/UO'] ?? 0) >= refused.length, `istio_requests_total counts the overflow with UO: ${JSON.stringify(c)}`);
          assert.ok((c['200/-'] ?? 0) >= ok.length, `and the successes: ${JSON.stringify(c)}`);
        });

        // Bad field: the update would let all 20 through; it is refused by status and the limits stay.
        await apply('pool-bad.yaml');
        const bad = await awaitCondition(k, NS, 'destinationrule cp', 'WaypointAccepted', 'False');
        namesField(bad, /spec\.trafficPolicy\.connectionPool\.tcp\.maxConnections/, 'maxConnections -1');
        const again = statuses(await burst());
        assert.ok((again['503'] ?? 0) >= 15, `the previous limits still apply: ${JSON.stringify(again)}`);
      } finally {
        await remove('pool.yaml');
      }
    });

    test('outlier detection: 3 endpoints, one answering 500 → ejected after 3 errors, ≥ 99 % of the next 300 succeed, back after baseEjectionTime', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      const url = 'http://od/?fail=b-3:500';
      try {
        await apply('outlier.yaml');
        await awaitCondition(k, NS, 'destinationrule od', 'WaypointAccepted', 'True');
        // One at a time, so b-3's errors are consecutive; until the waypoint reports the ejection.
        const ejectedAt = await eventually(
          async () => {
            const l = await batch(k, NS, 'client', url, 15, { conns: 1 });
            const failures = l.filter((x) => x.status === 500);
            assert.ok(failures.length >= 3, `b-3 answered 500 three times: ${JSON.stringify(countBy(l, (x) => x.backend))}`);
            assert.ok((await waypointSum(k, NS, wp().name, 'ambit_waypoint_outlier_ejections_total')) >= 1, 'the waypoint ejected it');
            return Date.now();
          },
          15_000,
          0,
        );
        const next = await batch(k, NS, 'client', url, 300, { conns: 4 });
        const elapsed = Date.now() - ejectedAt;
        const ok = next.filter((l) => l.status === 200).length;
        t.diagnostic(
          `after the ejection: ${ok}/300 succeeded in ${elapsed} ms; by endpoint ${JSON.stringify(countBy(next, (l) => l.backend))}`,
        );
        assert.ok(ok >= 297, `≥ 99 % of the next 300 succeed: ${ok}`);
        // Back after baseEjectionTime (4 s, reviewed every 1 s): b-3 answers again.
        const back = await eventually(
          async () => {
            const l = await batch(k, NS, 'client', url, 6, { conns: 1 });
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
        await remove('outlier.yaml');
      }
    });

    test('load balancing: consistentHash on x-user keeps each user on one endpoint over 200 requests; LEAST_REQUEST sends fewer to a slow endpoint than ROUND_ROBIN', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      try {
        await apply('lb-hash.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        await eventually(async () => {
          const l = await batch(k, NS, 'client', 'http://lb/', 9, { conns: 1, headers: ['x-user: probe'] });
          assert.equal(new Set(l.map((x) => x.backend)).size, 1, 'one user, one endpoint');
        }, 10_000);
        const lines = await batch(k, NS, 'client', 'http://lb/', 200, { conns: 4, headers: ['x-user: user-{i%10}'] });
        assert.deepEqual(statuses(lines), { 200: 200 });
        const byUser = new Map<number, Set<string>>();
        for (const l of lines) byUser.set(l.i % 10, (byUser.get(l.i % 10) ?? new Set()).add(l.backend));
        const placement = [...byUser].map(([u, s]) => `user-${u}→${[...s].join('|')}`);
        t.diagnostic(placement.join(' '));
        for (const [u, s] of byUser) assert.equal(s.size, 1, `user-${u} always reaches the same endpoint: ${[...s].join(', ')}`);
        assert.ok(new Set(lines.map((l) => l.backend)).size >= 2, `users spread across endpoints: ${placement.join(' ')}`);

        // One slow endpoint (b-3, 200 ms), 6 requests at a time: how many does each policy send it?
        const slowShare = async (): Promise<number> => {
          const l = await batch(k, NS, 'client', 'http://lb/?slow=b-3:200', 150, { conns: 6 });
          assert.deepEqual(statuses(l), { 200: 150 });
          return l.filter((x) => x.backend === 'b-3').length;
        };
        await apply('lb-least-request.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        // In force once one user no longer sticks to one endpoint.
        await eventually(async () => {
          const l = await batch(k, NS, 'client', 'http://lb/', 9, { conns: 1, headers: ['x-user: probe'] });
          assert.ok(new Set(l.map((x) => x.backend)).size > 1, 'no longer hashed');
        }, 10_000);
        const leastRequest = await slowShare();
        await apply('lb-round-robin.yaml');
        await awaitCondition(k, NS, 'destinationrule lb', 'WaypointAccepted', 'True');
        // In force once 6 requests in a row visit each endpoint twice.
        await eventually(async () => {
          const l = await batch(k, NS, 'client', 'http://lb/', 6, { conns: 1 });
          assert.deepEqual(Object.values(countBy(l, (x) => x.backend)), [2, 2, 2], 'round robin');
        }, 10_000);
        const roundRobin = await slowShare();
        t.diagnostic(`requests to the slow endpoint out of 150: LEAST_REQUEST ${leastRequest}, ROUND_ROBIN ${roundRobin}`);
        assert.ok(roundRobin >= 45 && roundRobin <= 55, `ROUND_ROBIN gives every endpoint a third: ${roundRobin}`);
        assert.ok(leastRequest <= roundRobin * 0.7, `LEAST_REQUEST sends fewer to the slow endpoint: ${leastRequest} vs ${roundRobin}`);
      } finally {
        await remove('lb-hash.yaml');
      }
    });

    test('retry budget: a backend answering 503 to everything with retry attempts 3 sees ≤ 1.2 × the requests + the floor; a bogus annotation is reported and the default applies', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      /** Sends n requests that all fail; returns what the backends saw and the bound the default budget allows. */
      const run = async (bucket: string, n: number): Promise<{ seen: number; bound: number }> => {
        const started = Date.now();
        const lines = await batch(k, NS, 'client', `http://rt/?status=503&bucket=${bucket}`, n, { conns: 8 });
        const seconds = (Date.now() - started) / 1000;
        assert.deepEqual(statuses(lines), { 503: n });
        const seen = await backendCount(k, NS, 'client', backendIps(), bucket);
        // 20 % of the requests plus 10 retries/s, earned over the 10 s window (Linkerd's budget: the floor is
        // minRetriesPerSecond × ttl while a run is shorter than the window).
        const bound = Math.ceil(1.2 * n + 10 * Math.max(seconds, 10));
        t.diagnostic(`${n} requests in ${seconds.toFixed(1)} s: the backends saw ${seen} (bound ${bound}, without a budget ${4 * n})`);
        return { seen, bound };
      };
      try {
        await apply('retry.yaml');
        await awaitCondition(k, NS, 'httproute rt', 'Accepted', 'True').catch(async () => {
          // HTTPRoute status is per parent (status.parents[].conditions).
          await eventually(async () => {
            const r = await k.kubectlJson<{ status?: { parents?: Array<{ conditions?: Array<{ type: string; status: string }> }> } }>([
              'get',
              'httproute',
              'rt',
              '-n',
              NS,
            ]);
            assert.equal(r.status?.parents?.[0]?.conditions?.find((c) => c.type === 'Accepted')?.status, 'True', JSON.stringify(r.status));
          }, 10_000);
        });
        // In force once one failing request reaches the backend 4 times (Istio's default retry would make it 3).
        let probe = 0;
        await eventually(async () => {
          const bucket = `probe-${++probe}`;
          await batch(k, NS, 'client', `http://rt/?status=503&bucket=${bucket}`, 1, { conns: 1 });
          assert.equal(await backendCount(k, NS, 'client', backendIps(), bucket), 4);
        }, 10_000);
        const sentBefore = await waypointSum(k, NS, wp().name, 'ambit_waypoint_retries_total', { outcome: 'sent' });
        const n = 400;
        const { seen, bound } = await run('budget', n);
        assert.ok(seen > n, `retries happen: ${seen}`);
        assert.ok(seen <= bound, `the budget caps retries: ${seen} > ${bound}`);
        await eventually(async () => {
          assert.ok((await waypointSum(k, NS, wp().name, 'ambit_waypoint_retries_total', { outcome: 'sent' })) > sentBefore);
          assert.ok((await waypointSum(k, NS, wp().name, 'ambit_waypoint_retries_total', { outcome: 'budget_exhausted' })) > 0);
        });

        // Bad field: the annotation cannot be read; the problem is reported and the default budget applies.
        const annotated = await k.kubectl(['annotate', '--overwrite', 'service', 'rt', '-n', NS, 'ambit.dev/retry-budget=bogus']);
        assert.equal(annotated.code, 0, annotated.stderr);
        const report = await eventually(async () => {
          const events = await k.kubectlJson<{ items: Array<{ involvedObject: { kind: string; name: string }; message: string }> }>([
            'get',
            'events',
            '-n',
            NS,
          ]);
          const event = events.items.find((e) => e.involvedObject.name === 'rt' && e.message.includes('ambit.dev/retry-budget'));
          const logLine = k
            .podLog('ambit-system', 'controller')
            .split('\n')
            .find((l) => l.includes('ambit.dev/retry-budget') && l.includes('bogus'));
          assert.ok(event !== undefined || logLine !== undefined, 'an Event on Service rt or a controller log line names the annotation');
          return event?.message ?? logLine ?? '';
        }, 10_000);
        t.diagnostic(`reported: ${report}`);
        const withBogus = await run('bogus', 200);
        assert.ok(withBogus.seen > 200 && withBogus.seen <= withBogus.bound, `the default budget applies: ${JSON.stringify(withBogus)}`);
      } finally {
        await k.kubectl(['annotate', 'service', 'rt', '-n', NS, 'ambit.dev/retry-budget-']);
        await remove('retry.yaml');
      }
    });

    test('rate limit: 10 rps, 30 rps offered for 3 s → 30 ± 3 succeed, the rest 429 with retry-after and x-ratelimit-*; requestsPerSecond 0 → 422; a missing target → status', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      try {
        await apply('ratelimit.yaml');
        await awaitCondition(k, NS, 'localratelimit rl', 'Accepted', 'True');
        await eventually(async () => {
          const l = await batch(k, NS, 'client', 'http://rl/', 20, { conns: 4 });
          assert.ok((statuses(l)['429'] ?? 0) > 0, 'the limit is in force');
        }, 10_000);
        const counts = await countsSince('rl');
        const lines = await batch(k, NS, 'client', 'http://rl/', 90, {
          conns: 30,
          rate: 30,
          show: ['retry-after', 'x-ratelimit-*'],
        });
        const ok = lines.filter((l) => l.status === 200).length;
        const limited = lines.filter((l) => l.status === 429);
        const span = (lines.at(-1)?.at ?? 0) - (lines[0]?.at ?? 0);
        t.diagnostic(`offered 90 over ${span} ms: ${JSON.stringify(statuses(lines))}; a 429 carries ${JSON.stringify(limited[0]?.h)}`);
        assert.equal(ok + limited.length, 90, JSON.stringify(statuses(lines)));
        assert.ok(ok >= 27 && ok <= 33, `30 ± 3 succeed: ${ok}`);
        for (const l of limited) {
          assert.ok(l.h?.['retry-after'] !== undefined, `a 429 has retry-after: ${JSON.stringify(l)}`);
          assert.ok(
            Object.keys(l.h ?? {}).some((h) => h.startsWith('x-ratelimit-')),
            `a 429 has x-ratelimit-* headers: ${JSON.stringify(l)}`,
          );
        }
        await eventually(async () => {
          const c = await counts();
          assert.ok((c['429/RL'] ?? 0) >= limited.length, `counted with response_flags RL: ${JSON.stringify(c)}`);
        });

        // Bad fields: the schema refuses 0 requests per second (422 naming the field; the object is unchanged) …
        const zero = await k.kubectl(['apply', '--validate=false', '-f', join(LIVE, 'ratelimit-zero.yaml')]);
        assert.notEqual(zero.code, 0, 'requestsPerSecond 0 is refused');
        assert.match(zero.stderr, /spec\.total\.requestsPerSecond/, zero.stderr);
        assert.match(zero.stderr, /invalid/i, zero.stderr);
        const stored = await k.kubectlJson<{ spec: { total: { requestsPerSecond: number } } }>(['get', 'localratelimit', 'rl', '-n', NS]);
        assert.equal(stored.spec.total.requestsPerSecond, 10);
        // … and what the schema cannot know, a target that does not exist, gets a status condition.
        await apply('ratelimit-no-target.yaml');
        const nowhere = await awaitCondition(k, NS, 'localratelimit rl-nowhere', 'Accepted', 'False');
        assert.equal(nowhere.reason, 'TargetNotFound', JSON.stringify(nowhere));
        namesField(nowhere, /spec\.targetRef|no-such-service/, 'targetRef to a missing Service');
        const still = statuses(await batch(k, NS, 'client', 'http://rl/', 20, { conns: 4 }));
        assert.ok((still['429'] ?? 0) > 0, `the 10 rps limit still applies: ${JSON.stringify(still)}`);
      } finally {
        await remove('ratelimit-no-target.yaml', 'ratelimit.yaml');
      }
    });

    test('faults: 10 % abort 503 over 2 000 requests → 10 % ± 2 points (FI); 200 ms delay on all → p50 ≥ 200 ms (DI); both statuses at once → refused, the 10 % stays', async (t) => {
      if (!requirePrivileges(t, NEEDS)) return;
      wp();
      try {
        await apply('faults.yaml');
        for (const name of ['abort-10', 'delay-200']) await awaitCondition(k, NS, `httpfault ${name}`, 'Accepted', 'True');
        const counts = await countsSince('ft');
        const delayed = await eventually(async () => {
          const l = await batch(k, NS, 'client', 'http://ft/delay', 20, { conns: 10 });
          assert.deepEqual(statuses(l), { 200: 20 });
          assert.ok(
            percentile(
              l.map((x) => x.ms),
              50,
            ) >= 200,
            `p50 ${percentile(
              l.map((x) => x.ms),
              50,
            )} ms`,
          );
          return l;
        }, 10_000);
        t.diagnostic(
          `delay: p50 ${percentile(
            delayed.map((x) => x.ms),
            50,
          )} ms, max ${percentile(
            delayed.map((x) => x.ms),
            100,
          )} ms`,
        );
        const aborted = await batch(k, NS, 'client', 'http://ft/abort', 2000, { conns: 8 });
        const s = statuses(aborted);
        const share = ((s['503'] ?? 0) / 2000) * 100;
        t.diagnostic(`abort: ${JSON.stringify(s)} (${share.toFixed(1)} %)`);
        assert.equal((s['503'] ?? 0) + (s['200'] ?? 0), 2000, JSON.stringify(s));
        assert.ok(share >= 8 && share <= 12, `10 % ± 2 aborted: ${share} %`);
        assert.ok(
          aborted.filter((l) => l.status === 503).every((l) => l.backend === '-'),
          'the waypoint answered the aborts itself',
        );
        await eventually(async () => {
          const c = await counts();
          assert.ok((c['503/FI'] ?? 0) >= (s['503'] ?? 0), `aborts counted with FI: ${JSON.stringify(c)}`);
          assert.ok((c['200/DI'] ?? 0) >= 20, `delays counted with DI: ${JSON.stringify(c)}`);
        });

        // Bad field: abort every request with both statuses. Refused (by the API or by status); the 10 % stays.
        const bad = await k.kubectl(['apply', '--validate=false', '-f', join(LIVE, 'fault-bad.yaml')]);
        if (bad.code === 0) {
          const c = await awaitCondition(k, NS, 'httpfault abort-10', 'Accepted', 'False');
          namesField(c, /spec\.abort/, 'httpStatus with grpcStatus');
        } else {
          assert.match(bad.stderr, /spec\.abort/, `refused by the API naming the field: ${bad.stderr}`);
        }
        const after = statuses(await batch(k, NS, 'client', 'http://ft/abort', 200, { conns: 8 }));
        assert.ok((after['503'] ?? 0) >= 5 && (after['503'] ?? 0) <= 50, `still about 10 % aborted: ${JSON.stringify(after)}`);
      } finally {
        await remove('faults.yaml');
      }
    });
  },
);
