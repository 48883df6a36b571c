import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '@ambit/core/testing/clock-and-issuer';
import { DEFAULT_RETRY_BUDGET } from '@ambit/core/traffic';
import { createRetryBudgets } from './retry-budget.ts';

const SVC = 'demo/api.demo.svc.cluster.local';

test('against a backend that fails everything, 3 retries per request cost at most 20 % plus the floor', () => {
  const clock = manualClock(0);
  const budgets = createRetryBudgets({ clock });
  // 100 requests/s for 5 s, each wanting 3 retries: 500 requests.
  let retries = 0;
  for (let i = 0; i < 500; i++) {
    const b = budgets.forService(SVC, DEFAULT_RETRY_BUDGET);
    b.deposit();
    for (let r = 0; r < 3; r++) if (b.withdraw()) retries += 1;
    clock.advance(10);
  }
  // 0.2 × 500 + 10/s × 5 s + 10 (the floor starts full).
  assert.ok(retries <= 100 + 50 + 10, `${retries} retries`);
  assert.ok(retries >= 100 + 50, `${retries} retries: the budget is spent, not withheld`);
});

test('deposits expire after ttl; charges use the oldest deposits first; the floor refills one second’s worth', () => {
  const clock = manualClock(0);
  const budgets = createRetryBudgets({ clock });
  const budget = { retryRatio: 0.5, minRetriesPerSecond: 0, ttlMs: 1_000 };
  const b = budgets.forService(SVC, budget);
  b.deposit();
  assert.equal(b.withdraw(), false, 'half a token is not a retry');
  b.deposit();
  assert.equal(b.withdraw(), true);
  assert.equal(b.withdraw(), false);
  // Two deposits at t=0 and two at t=600; a retry at 700 takes t=0's; at 1100 those have expired, t=600's remain.
  b.deposit();
  b.deposit();
  clock.advance(600);
  b.deposit();
  b.deposit();
  clock.advance(100);
  assert.equal(b.withdraw(), true);
  clock.advance(400);
  assert.ok(Math.abs(b.balance() - 1) < 1e-9, `balance ${b.balance()}`);
  assert.equal(b.withdraw(), true);
  assert.equal(b.withdraw(), false);
  clock.advance(1_000);
  assert.equal(b.balance(), 0);

  const floor = budgets.forService('demo/other', { retryRatio: 0, minRetriesPerSecond: 2, ttlMs: 10_000 });
  assert.equal(floor.withdraw(), true);
  assert.equal(floor.withdraw(), true);
  assert.equal(floor.withdraw(), false, 'the floor holds one second of retries, no more');
  clock.advance(500);
  assert.equal(floor.withdraw(), true);
  assert.equal(floor.withdraw(), false);
  clock.advance(60_000);
  assert.ok(Math.abs(floor.balance() - 2) < 1e-9, 'capped at one second’s worth');
});

test('budgets survive config pushes that keep the window, and idle ones are dropped', () => {
  const clock = manualClock(0);
  const budgets = createRetryBudgets({ clock });
  const push = () => ({ retryRatio: 1, minRetriesPerSecond: 0, ttlMs: 10_000 });
  budgets.forService(SVC, push()).deposit();
  assert.equal(budgets.forService(SVC, push()).withdraw(), true, 'the deposit made under the previous push is still there');
  budgets.forService(SVC, push()).deposit();
  // A new window starts over.
  assert.equal(budgets.forService(SVC, { ...push(), ttlMs: 5_000 }).withdraw(), false);
  assert.equal(budgets.size(), 1);
  clock.advance(30_000);
  budgets.forService('demo/other', push());
  assert.equal(budgets.size(), 1, 'the idle budget is gone');
});
