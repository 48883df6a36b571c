import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBackoff } from './backoff.ts';

test('the nominal sequence doubles from 500 ms and is capped at 150 s', () => {
  const backoff = createBackoff();
  const seq = Array.from({ length: 12 }, (_, i) => backoff.nominalMs(i + 1));
  assert.deepEqual(seq, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000, 150_000]);
  assert.equal(backoff.nominalMs(10_000), 150_000, 'a long outage neither overflows nor exceeds the cap');
});

test('jitter stays within ±20 % and never exceeds the cap', () => {
  const low = createBackoff({ random: () => 0 });
  const high = createBackoff({ random: () => 0.999_999 });
  assert.equal(low.delayMs(1), 400);
  assert.equal(high.delayMs(1), 600);
  assert.equal(low.delayMs(20), 120_000);
  assert.equal(high.delayMs(20), 150_000, 'jitter above the cap is clipped to it');
  const real = createBackoff();
  for (let failures = 1; failures < 30; failures++) {
    const d = real.delayMs(failures);
    const nominal = real.nominalMs(failures);
    assert.ok(d >= nominal * 0.8 - 1 && d <= Math.min(nominal * 1.2, 150_000) + 1, `delay ${d} for failure ${failures}`);
  }
});

test('bad options are refused', () => {
  assert.throws(() => createBackoff({ initialMs: 0 }), RangeError);
  assert.throws(() => createBackoff({ initialMs: 1000, maxMs: 10 }), RangeError);
  assert.throws(() => createBackoff({ jitter: 1 }), RangeError);
});
