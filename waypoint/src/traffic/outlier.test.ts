import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutlierDetection } from '@ambit/core/traffic';
import { manualClock } from '@ambit/core/testing/clock-and-issuer';
import { createOutlierDetector } from './outlier.ts';

const POLICY: OutlierDetection = {
  consecutive5xxErrors: 3,
  consecutiveGatewayErrors: 0,
  intervalMs: 1_000,
  baseEjectionTimeMs: 10_000,
  maxEjectionPercent: 100,
  minHealthPercent: 0,
};

function setup(policy: Partial<OutlierDetection> = {}, hosts = ['a', 'b', 'c']) {
  const clock = manualClock(1_000_000);
  const events: string[] = [];
  const od = createOutlierDetector({ ...POLICY, ...policy }, clock, (key, event) => events.push(`${key} ${event}`));
  od.setHosts(hosts);
  const fail = (key: string, n: number, status = 500): void => {
    for (let i = 0; i < n; i++) od.report(key, status);
  };
  return { clock, events, od, fail };
}

test('consecutive 5xx eject at the threshold; a success in between resets the count', () => {
  const { od, fail, events } = setup();
  fail('a', 2);
  od.report('a', 200);
  fail('a', 2);
  assert.equal(od.isEjected('a'), false);
  od.report('a', 503);
  assert.equal(od.isEjected('a'), true);
  assert.deepEqual(events, ['a ejected']);
  assert.equal(od.ejectedCount(), 1);
  od.close();
  assert.deepEqual(events, ['a ejected', 'a returned'], 'closing returns what is ejected (the gauge)');
});

test('consecutive gateway errors count 502/503/504 only; 5xx detection off with 0', () => {
  const { od, fail } = setup({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 });
  fail('a', 5, 500);
  assert.equal(od.isEjected('a'), false);
  od.report('a', 502);
  od.report('a', 500);
  od.report('a', 504);
  assert.equal(od.isEjected('a'), false, 'a 500 breaks the gateway-error run');
  od.report('a', 503);
  assert.equal(od.isEjected('a'), true);
  od.close();
});

test('maxEjectionPercent limits ejections, but one is always allowed', () => {
  const { od, fail } = setup({ maxEjectionPercent: 10 });
  fail('a', 3);
  fail('b', 3);
  assert.deepEqual([od.isEjected('a'), od.isEjected('b')], [true, false], '10 % of 3 rounds to none: still one');
  od.close();
  const half = setup({ maxEjectionPercent: 50 }, ['a', 'b', 'c', 'd']);
  half.fail('a', 3);
  half.fail('b', 3);
  half.fail('c', 3);
  assert.equal(half.od.ejectedCount(), 2);
  half.od.close();
});

test('minHealthPercent: below it detection is off and ejections are ignored (panic); 0 never panics', () => {
  const { od, fail } = setup({ minHealthPercent: 60 });
  fail('a', 3);
  assert.equal(od.isEjected('a'), true);
  assert.equal(od.inPanic(), false, '2 of 3 healthy = 67 %');
  fail('b', 3);
  assert.equal(od.isEjected('b'), true, 'allowed: 67 % healthy before it');
  assert.equal(od.inPanic(), true, '1 of 3 healthy');
  fail('c', 3);
  assert.equal(od.isEjected('c'), false, 'no ejection while in panic');
  od.close();
  const none = setup();
  none.fail('a', 3);
  none.fail('b', 3);
  none.fail('c', 3);
  assert.equal(none.od.ejectedCount(), 3);
  assert.equal(none.od.inPanic(), false);
  none.od.close();
});

test('an ejected endpoint returns at the first sweep after base × times ejected; the multiplier decays while healthy', () => {
  const { od, fail, clock, events } = setup();
  fail('a', 3);
  clock.advance(9_000);
  assert.equal(od.isEjected('a'), true);
  clock.advance(1_000);
  assert.equal(od.isEjected('a'), false, 'back after 10 s');
  assert.deepEqual(events, ['a ejected', 'a returned']);
  fail('a', 3);
  clock.advance(10_000);
  assert.equal(od.isEjected('a'), true, 'second ejection: 20 s');
  clock.advance(10_000);
  assert.equal(od.isEjected('a'), false);
  // Healthy for two intervals: the multiplier (2) decays to 0, so the next ejection lasts the base time again.
  clock.advance(2_000);
  fail('a', 3);
  clock.advance(10_000);
  assert.equal(od.isEjected('a'), false, 'third ejection after decay: 10 s');
  clock.advance(1_000);
  assert.deepEqual(clock.pending(), [], 'no timer once nothing is ejected or decaying');
  od.close();
});

test('hosts that leave are forgotten (an ejected one reported returned); reports from unknown hosts are ignored', () => {
  const { od, fail, events } = setup();
  fail('a', 3);
  od.setHosts(['b', 'c', 'd']);
  assert.deepEqual(events, ['a ejected', 'a returned']);
  fail('zz', 10);
  assert.equal(od.ejectedCount(), 0);
  od.close();
});
