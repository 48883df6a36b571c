import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBackoff } from './backoff.ts';

// The xDS client's schedule: the defaults (100 ms doubling to 10 s, equal jitter).
test('the nominal delay doubles per failure from 100 ms and is capped at 10 s', () => {
  const max = createBackoff({ random: () => 1 });
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => max.delayMs(n)),
    [100, 200, 400, 800],
  );
  assert.equal(max.delayMs(8), 10_000);
  assert.equal(max.delayMs(1000), 10_000);
});

test('equal jitter stays within [nominal/2, nominal]', () => {
  const low = createBackoff({ random: () => 0 });
  assert.equal(low.delayMs(1), 50);
  assert.equal(low.delayMs(11), 5_000);
  const real = createBackoff();
  for (let i = 0; i < 100; i++) {
    const d = real.delayMs(4);
    assert.ok(d >= 400 && d <= 800, `${d}`);
  }
});

// The ztunnel CA schedule (reference istio-ambient.md §5): 500 ms doubling to 150 s, ±20 %.
const ca = { initialMs: 500, maxMs: 150_000, jitter: 0.2 } as const;

test('the CA schedule: nominal sequence doubles from 500 ms and is capped at 150 s', () => {
  const backoff = createBackoff(ca);
  const seq = Array.from({ length: 12 }, (_, i) => backoff.nominalMs(i + 1));
  assert.deepEqual(seq, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000, 150_000]);
  assert.equal(backoff.nominalMs(10_000), 150_000, 'a long outage neither overflows nor exceeds the cap');
});

test('proportional jitter stays within ±20 % and never exceeds the cap', () => {
  const low = createBackoff({ ...ca, random: () => 0 });
  const high = createBackoff({ ...ca, random: () => 0.999_999 });
  assert.equal(low.delayMs(1), 400);
  assert.equal(high.delayMs(1), 600);
  assert.equal(low.delayMs(20), 120_000);
  assert.equal(high.delayMs(20), 150_000, 'jitter above the cap is clipped to it');
  const real = createBackoff(ca);
  for (let failures = 1; failures < 30; failures++) {
    const d = real.delayMs(failures);
    const nominal = real.nominalMs(failures);
    assert.ok(d >= nominal * 0.8 - 1 && d <= Math.min(nominal * 1.2, 150_000) + 1, `delay ${d} for failure ${failures}`);
  }
});

test('full jitter spreads over [0, nominal]; none is the nominal itself', () => {
  assert.equal(createBackoff({ jitter: 'full', random: () => 0 }).delayMs(5), 0);
  assert.equal(createBackoff({ jitter: 'full', random: () => 0.5 }).delayMs(5), 800);
  assert.equal(createBackoff({ jitter: 'full', random: () => 1 }).delayMs(20), 10_000);
  const none = createBackoff({ initialMs: 1000, maxMs: 30_000, jitter: 'none', random: () => assert.fail('no jitter draws nothing') });
  assert.deepEqual(
    [1, 2, 3, 5, 6, 100].map((n) => none.delayMs(n)),
    [1000, 2000, 4000, 16_000, 30_000, 30_000],
  );
});

test('a multiplier other than 2', () => {
  const b = createBackoff({ initialMs: 100, maxMs: 10_000, multiplier: 1.5, jitter: 'none' });
  assert.deepEqual(
    [1, 2, 3].map((n) => b.delayMs(n)),
    [100, 150, 225],
  );
});

test('bad options are refused', () => {
  assert.throws(() => createBackoff({ initialMs: 0 }), RangeError);
  assert.throws(() => createBackoff({ initialMs: 1000, maxMs: 10 }), RangeError);
  assert.throws(() => createBackoff({ multiplier: 0.5 }), RangeError);
  assert.throws(() => createBackoff({ jitter: 1 }), RangeError);
  assert.throws(() => createBackoff({ jitter: -0.1 }), RangeError);
});
