import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import {
  awaitCondition,
  awaitRouteAccepted,
  backendCount,
  percentile,
  statuses,
  type BatchLine,
  type PolicyContext,
} from './waypoint-policy.ts';
import { componentLog } from './mesh-components.ts';

// Issue 14 §3–§5 acceptance through the waypoint: retry budget (Service `rt`), local rate limit (`rl`) and fault
// injection (`ft`), each with its bad-field case. Requests from one client process (http-batch.mjs) in the client pod.

/** Retry budget: a backend answering 503 to everything, retry attempts 3; then `ambit.dev/retry-budget: bogus`. */
export async function retryBudgetChecks(t: TestContext, c: PolicyContext): Promise<void> {
  const { k, ns: NS } = c;
  /** Sends n requests that all fail; returns what the backends saw and the bound the default budget allows. */
  const run = async (bucket: string, n: number): Promise<{ seen: number; bound: number }> => {
    const started = Date.now();
    const lines = await c.batch(`http://rt/?status=503&bucket=${bucket}`, n, { conns: 8 });
    const seconds = (Date.now() - started) / 1000;
    assert.deepEqual(statuses(lines), { 503: n });
    const seen = await backendCount(k, NS, 'client', c.backendIps, bucket);
    // The default budget: retries up to 20 % of the requests plus the floor of 10 retries/s over the run (whose
    // bucket starts with one second's worth).
    const bound = Math.ceil(1.2 * n + 10 * (seconds + 1));
    t.diagnostic(`${n} requests in ${seconds.toFixed(1)} s: the backends saw ${seen} (bound ${bound}, without a budget ${4 * n})`);
    return { seen, bound };
  };
  try {
    await c.apply('retry.yaml');
    await awaitRouteAccepted(k, NS, 'httproute', 'rt');
    // In force once one failing request reaches the backend 4 times (Istio's default retry would make it 3).
    let probe = 0;
    await eventually(async () => {
      const bucket = `probe-${++probe}`;
      await c.batch(`http://rt/?status=503&bucket=${bucket}`, 1, { conns: 1 });
      assert.equal(await backendCount(k, NS, 'client', c.backendIps, bucket), 4);
    }, 10_000);
    const sentBefore = await c.metric('ambit_waypoint_retries_total', { outcome: 'sent' });
    const n = 400;
    const { seen, bound } = await run('budget', n);
    assert.ok(seen > n, `retries happen: ${seen}`);
    assert.ok(seen <= bound, `the budget caps retries: ${seen} > ${bound}`);
    await eventually(async () => {
      assert.ok((await c.metric('ambit_waypoint_retries_total', { outcome: 'sent' })) > sentBefore);
      assert.ok((await c.metric('ambit_waypoint_retries_total', { outcome: 'budget_exhausted' })) > 0);
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
      const logLine = componentLog(k.paths, 'controller')
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
    await c.remove('retry.yaml');
  }
}

/**
 * Local rate limit: an update to requestsPerSecond 0 is refused by the schema first (422 naming the field), so the
 * rate check after it shows the limit in force unchanged: 10 rps, 30 rps offered for 3 s. Then a target that does not
 * exist, which only the controller can know (a status condition).
 */
export async function rateLimitChecks(t: TestContext, c: PolicyContext): Promise<void> {
  const { k, ns: NS } = c;
  try {
    await c.apply('ratelimit.yaml');
    const zero = await c.tryApply('ratelimit-zero.yaml');
    t.diagnostic(`requestsPerSecond 0: ${zero.stderr.trim()}`);
    assert.notEqual(zero.code, 0, 'requestsPerSecond 0 is refused');
    assert.match(zero.stderr, /spec\.total\.requestsPerSecond/, zero.stderr);
    assert.match(zero.stderr, /invalid/i, zero.stderr);
    const stored = await k.kubectlJson<{ spec: { total: { requestsPerSecond: number } } }>(['get', 'localratelimit', 'rl', '-n', NS]);
    assert.equal(stored.spec.total.requestsPerSecond, 10, 'the stored object is unchanged');

    await awaitCondition(k, NS, 'localratelimit rl', 'Accepted', 'True');
    await eventually(async () => {
      const l = await c.batch('http://rl/', 20, { conns: 4 });
      assert.ok((statuses(l)['429'] ?? 0) > 0, 'the limit is in force');
    }, 10_000);
    const counts = await c.countsSince('rl');
    const lines = await c.batch('http://rl/', 90, { conns: 30, rate: 30, show: ['retry-after', 'x-ratelimit-*'] });
    const ok = lines.filter((l) => l.status === 200);
    const limited = lines.filter((l) => l.status === 429);
    const span = (lines.at(-1)?.at ?? 0) - (lines[0]?.at ?? 0);
    const gaps = ok.slice(1).map((l, i) => l.at - (ok[i]?.at ?? 0));
    t.diagnostic(
      `offered 90 over ${span} ms: ${JSON.stringify(statuses(lines))}; successes sent ${percentile(gaps, 50)} ms apart (p50); a 429 carries ${JSON.stringify(limited[0]?.h)}`,
    );
    assert.equal(ok.length + limited.length, 90, JSON.stringify(statuses(lines)));
    for (const l of limited) {
      assert.ok(l.h?.['retry-after'] !== undefined, `a 429 has retry-after: ${JSON.stringify(l)}`);
      assert.ok(
        Object.keys(l.h ?? {}).some((h) => h.startsWith('x-ratelimit-')),
        `a 429 has x-ratelimit-* headers: ${JSON.stringify(l)}`,
      );
    }
    await eventually(async () => {
      const n = await counts();
      assert.ok((n['429/RL'] ?? 0) >= limited.length, `counted with response_flags RL: ${JSON.stringify(n)}`);
    });

    await c.apply('ratelimit-no-target.yaml');
    const nowhere = await awaitCondition(k, NS, 'localratelimit rl-nowhere', 'Accepted', 'False', { message: /spec\.targetRef/ });
    assert.equal(nowhere.reason, 'TargetNotFound', JSON.stringify(nowhere));
    // Last, so that every other part of this check has run when the count is off.
    assert.ok(ok.length >= 27 && ok.length <= 33, `30 ± 3 succeed: ${ok.length}`);
  } finally {
    await c.remove('ratelimit-no-target.yaml', 'ratelimit.yaml');
  }
}

/**
 * Fault injection: an update of the abort to 100 % with both an HTTP and a gRPC status is refused first (by the API's
 * schema, or by status), so the abort check after it shows the 10 % in force: 10 % ± 2 points over 2 000 requests
 * (FI); a 200 ms delay on every request → p50 ≥ 200 ms (DI).
 */
export async function faultChecks(t: TestContext, c: PolicyContext): Promise<void> {
  const { k, ns: NS } = c;
  const p50 = (lines: readonly BatchLine[]): number =>
    percentile(
      lines.map((x) => x.ms),
      50,
    );
  try {
    await c.apply('faults.yaml');
    for (const name of ['abort-10', 'delay-200']) await awaitCondition(k, NS, `httpfault ${name}`, 'Accepted', 'True');
    await awaitRouteAccepted(k, NS, 'httproute', 'ft');
    const bad = await c.tryApply('fault-bad.yaml');
    t.diagnostic(`abort with httpStatus and grpcStatus: ${bad.code === 0 ? 'accepted by the API' : bad.stderr.trim()}`);
    if (bad.code === 0) await awaitCondition(k, NS, 'httpfault abort-10', 'Accepted', 'False', { message: /spec\.abort/ });
    else assert.match(bad.stderr, /spec\.abort/, `refused by the API naming the field: ${bad.stderr}`);

    const counts = await c.countsSince('ft');
    const delayed = await eventually(async () => {
      const l = await c.batch('http://ft/delay', 20, { conns: 10 });
      assert.deepEqual(statuses(l), { 200: 20 });
      assert.ok(p50(l) >= 200, `p50 ${p50(l)} ms`);
      return l;
    }, 10_000);
    t.diagnostic(
      `delay: p50 ${p50(delayed)} ms, max ${percentile(
        delayed.map((x) => x.ms),
        100,
      )} ms`,
    );
    const aborted = await c.batch('http://ft/abort', 2000, { conns: 8 });
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
      const n = await counts();
      assert.ok((n['503/FI'] ?? 0) >= (s['503'] ?? 0), `aborts counted with FI: ${JSON.stringify(n)}`);
      assert.ok((n['200/DI'] ?? 0) >= 20, `delays counted with DI: ${JSON.stringify(n)}`);
    });
  } finally {
    await c.remove('faults.yaml');
  }
}
