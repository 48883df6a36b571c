import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '@ambit/core/testing/clock-and-issuer';
import type { RateLimit } from '@ambit/core/traffic';
import { createRateLimiter, quotaOf, rateLimitHeaders } from './rate-limit.ts';
import { BucketState } from './token-bucket.ts';

const SVC = 'demo/api.demo.svc.cluster.local';
const OTHER = 'demo/db.demo.svc.cluster.local';
const A = 'spiffe://cluster.local/ns/demo/sa/a';
const B = 'spiffe://cluster.local/ns/demo/sa/b';

const limit = (l: Partial<RateLimit>): RateLimit => ({ policy: 'demo/rl', overrides: [], ...l });

test('a token bucket starts full, refills at its rate up to burst, and says how long until the next token', () => {
  const spec = { requestsPerSecond: 10, burst: 3 };
  const b = new BucketState(spec, 0);
  for (let i = 0; i < 3; i++) {
    assert.ok(b.hasToken(spec, 0));
    b.take();
  }
  assert.equal(b.hasToken(spec, 0), false);
  assert.equal(b.msUntilToken(spec, 0), 100);
  assert.equal(b.hasToken(spec, 99), false);
  assert.ok(b.hasToken(spec, 100), 'one token after 100 ms at 10/s');
  assert.equal(b.tokens(spec, 10_000), 3, 'never past burst');
  assert.ok(b.isFull(spec, 10_000));
  // A clock that steps back refills nothing.
  b.take();
  assert.equal(b.tokens(spec, 5_000), 2);
});

test('total: 10 rps with burst 1 offered 30 rps for 3 s admits 31 (the full bucket, then one per 100 ms)', () => {
  const clock = manualClock(1_000_000);
  const rl = createRateLimiter({ clock });
  const limits = [{ service: SVC, limit: limit({ total: { requestsPerSecond: 10, burst: 1 } }) }];
  let ok = 0;
  for (let i = 0; i < 90; i++) {
    if (rl.admit(limits, A) === undefined) ok += 1;
    clock.advance(1000 / 30);
  }
  assert.ok(ok >= 30 && ok <= 31, `${ok} admitted`);
});

test('a request passes only if every bucket has a token, and a refused one costs no bucket anything', () => {
  const clock = manualClock(0);
  const rl = createRateLimiter({ clock });
  const api = limit({ total: { requestsPerSecond: 1, burst: 2 }, perIdentity: { requestsPerSecond: 1, burst: 1 } });
  const db = limit({ policy: 'demo/db', total: { requestsPerSecond: 1, burst: 1 } });
  const both = [
    { service: SVC, limit: api },
    { service: OTHER, limit: db },
  ];
  assert.equal(rl.admit(both, A), undefined);
  // A's identity bucket is empty: refused, and the api total (1 left) and db total (0 left) are untouched.
  const r = rl.admit([{ service: SVC, limit: api }], A);
  assert.equal(r?.bucket, 'identity');
  assert.equal(r?.policy, 'demo/rl');
  // B has its own identity bucket; the api total still has its second token.
  assert.equal(rl.admit([{ service: SVC, limit: api }], B), undefined);
  const t = rl.admit([{ service: SVC, limit: api }], B);
  assert.ok(t !== undefined);
  // The db bucket refuses the pair: the longest wait is reported.
  const d = rl.admit(both, B);
  assert.ok(d !== undefined);
  clock.advance(1000);
  assert.equal(rl.admit([{ service: OTHER, limit: db }], B), undefined);
});

test('overrides replace the per-identity bucket; one bucket per override entry, shared by the identities it lists (Linkerd)', () => {
  const clock = manualClock(0);
  const rl = createRateLimiter({ clock });
  const l = limit({
    perIdentity: { requestsPerSecond: 1, burst: 1 },
    overrides: [{ bucket: { requestsPerSecond: 1, burst: 3 }, identities: [A, B] }],
  });
  const limits = [{ service: SVC, limit: l }];
  assert.equal(rl.admit(limits, A), undefined);
  assert.equal(rl.admit(limits, A), undefined, 'the override allows a burst of 3, not perIdentity 1');
  assert.equal(rl.admit(limits, B), undefined);
  assert.equal(rl.admit(limits, B)?.bucket, 'override', 'A and B share the entry');
  const c = 'spiffe://cluster.local/ns/demo/sa/c';
  assert.equal(rl.admit(limits, c), undefined);
  assert.equal(rl.admit(limits, c)?.bucket, 'identity');
});

test('buckets survive config pushes that keep the limit (no refill), and a changed limit applies to the tokens there', () => {
  const clock = manualClock(0);
  const rl = createRateLimiter({ clock });
  const push = (): RateLimit => limit({ total: { requestsPerSecond: 1, burst: 5 } });
  for (let i = 0; i < 5; i++) assert.equal(rl.admit([{ service: SVC, limit: push() }], A), undefined);
  // A new (equal) object per request, as each xDS push decodes one: still empty.
  assert.ok(rl.admit([{ service: SVC, limit: push() }], A) !== undefined);
  // A higher rate from now on: 100 ms later one token is there.
  const faster = limit({ total: { requestsPerSecond: 10, burst: 5 } });
  clock.advance(100);
  assert.equal(rl.admit([{ service: SVC, limit: faster }], A), undefined);
  assert.ok(rl.admit([{ service: SVC, limit: faster }], A) !== undefined);
});

test('a flood of identities cannot grow memory: idle (full) buckets go first, then the least recently used', () => {
  const clock = manualClock(0);
  const rl = createRateLimiter({ clock, maxIdentityBuckets: 100 });
  const l = limit({ perIdentity: { requestsPerSecond: 1, burst: 2 } });
  const limits = [{ service: SVC, limit: l }];
  for (let i = 0; i < 10_000; i++) rl.admit(limits, `spiffe://cluster.local/ns/x/sa/s${i}`);
  assert.ok(rl.stats().identityBuckets <= 100, `${rl.stats().identityBuckets} buckets`);
  // A busy identity used just now survives the flood (least recently used goes first).
  rl.admit(limits, A);
  rl.admit(limits, A);
  for (let i = 0; i < 50; i++) rl.admit(limits, `spiffe://cluster.local/ns/y/sa/s${i}`);
  assert.ok(rl.admit(limits, A) !== undefined, "A's empty bucket was kept");
  // After a sweep interval every bucket has refilled and the state is dropped.
  clock.advance(20_000);
  rl.admit([{ service: OTHER, limit: limit({}) }], A);
  assert.deepEqual(rl.stats(), { services: 0, identityBuckets: 0 });
});

test('429 headers: retry-after and reset in whole seconds (at least 1), the limit in the draft-03 form Envoy writes', () => {
  const spec = { requestsPerSecond: 10, burst: 1 };
  assert.deepEqual(rateLimitHeaders({ policy: 'p', service: SVC, bucket: 'total', spec, retryAfterMs: 40 }), [
    ['retry-after', '1'],
    ['x-ratelimit-limit', '10, 10;w=1'],
    ['x-ratelimit-remaining', '0'],
    ['x-ratelimit-reset', '1'],
  ]);
  const slow = { requestsPerSecond: 0.5, burst: 1 };
  const h = rateLimitHeaders({ policy: 'p', service: SVC, bucket: 'identity', spec: slow, retryAfterMs: 1500 });
  assert.deepEqual(h.slice(0, 2), [
    ['retry-after', '2'],
    ['x-ratelimit-limit', '1, 1;w=2'],
  ]);
  assert.deepEqual(quotaOf(2.5), { quota: 5, windowSeconds: 2 });
  assert.deepEqual(quotaOf(1 / 60), { quota: 1, windowSeconds: 60 });
});
