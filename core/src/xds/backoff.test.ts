import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';

test('the base doubles per attempt and is capped', () => {
  const max = (a: number) => backoffDelayMs(a, DEFAULT_BACKOFF, () => 1);
  assert.deepEqual([0, 1, 2, 3].map(max), [100, 200, 400, 800]);
  assert.equal(max(7), 10_000);
  assert.equal(max(1000), 10_000);
});

test('jitter stays within [base/2, base]', () => {
  assert.equal(backoffDelayMs(0, DEFAULT_BACKOFF, () => 0), 50);
  assert.equal(backoffDelayMs(10, DEFAULT_BACKOFF, () => 0), 5_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3, DEFAULT_BACKOFF);
    assert.ok(d >= 400 && d <= 800, `${d}`);
  }
});
