import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaypointError } from '../proxy/errors.ts';
import { createCircuitBreaker } from './breaker.ts';

const isOverflow = (err: unknown): boolean => err instanceof WaypointError && err.code === 'UPSTREAM_OVERFLOW';

test('h1: maxConnections on the wire, then http1MaxPendingRequests queued, the rest overflow at once', async () => {
  const b = createCircuitBreaker({ maxConnections: 1, http1MaxPendingRequests: 1 }, 'svc:80');
  const first = b.admit('a:80', 'h1', undefined);
  assert.equal(typeof first, 'function');
  const second = b.admit('a:80', 'h1', undefined);
  assert.ok(second instanceof Promise);
  assert.throws(() => b.admit('a:80', 'h1', undefined), isOverflow);
  assert.throws(() => b.admit('b:80', 'h1', undefined), isOverflow, 'the limit is per cluster, not per endpoint');
  assert.deepEqual(b.stats(), { onWire: 1, connectionsInUse: 1, pending: 1 });
  (first as () => void)();
  const release = await second;
  assert.deepEqual(b.stats(), { onWire: 1, connectionsInUse: 1, pending: 0 });
  release();
  release();
  assert.deepEqual(b.stats(), { onWire: 0, connectionsInUse: 0, pending: 0 }, 'a second release changes nothing');
});

test('a pending request whose signal aborts leaves the queue and frees its place', async () => {
  const b = createCircuitBreaker({ maxConnections: 1, http1MaxPendingRequests: 1 }, 'svc:80');
  const first = b.admit('a:80', 'h1', undefined) as () => void;
  const ac = new AbortController();
  const waiting = b.admit('a:80', 'h1', ac.signal) as Promise<() => void>;
  ac.abort(new WaypointError('DOWNSTREAM_GONE', 'gone'));
  await assert.rejects(waiting, (e: unknown) => e instanceof WaypointError && e.code === 'DOWNSTREAM_GONE');
  assert.equal(b.stats().pending, 0);
  const next = b.admit('a:80', 'h1', undefined);
  assert.ok(next instanceof Promise, 'the queue has room again');
  first();
  (await next)();
  assert.deepEqual(b.stats(), { onWire: 0, connectionsInUse: 0, pending: 0 });
});

test('http2MaxRequests caps requests in flight for any protocol; no limit set admits everything', () => {
  const b = createCircuitBreaker({ http2MaxRequests: 2 }, 'svc:80');
  const r1 = b.admit('a:80', 'h2', undefined) as () => void;
  assert.equal(typeof b.admit('b:80', 'h1', undefined), 'function');
  assert.throws(() => b.admit('a:80', 'h2', undefined), isOverflow);
  r1();
  assert.equal(typeof b.admit('a:80', 'h2', undefined), 'function');
  const open = createCircuitBreaker({}, 'svc:80');
  for (let i = 0; i < 1000; i++) assert.equal(typeof open.admit('a:80', 'h1', undefined), 'function');
});

test('h2: maxConnections bounds sessions in use; more streams ride a busy session, a new endpoint waits', async () => {
  const b = createCircuitBreaker({ maxConnections: 1 }, 'svc:80');
  const s1 = b.admit('a:80', 'h2', undefined) as () => void;
  const s2 = b.admit('a:80', 'h2', undefined) as () => void;
  assert.equal(typeof s2, 'function', 'same session');
  const other = b.admit('b:80', 'h2', undefined);
  assert.ok(other instanceof Promise, 'a second session would exceed maxConnections (no pending limit set)');
  s1();
  assert.equal(b.stats().pending, 1, 'the session is still in use');
  s2();
  (await other)();
  assert.deepEqual(b.stats(), { onWire: 0, connectionsInUse: 0, pending: 0 });
});

test('a limit of 0 is unset, as Istio treats it (unlimited)', () => {
  const b = createCircuitBreaker({ maxConnections: 0, http1MaxPendingRequests: 0, http2MaxRequests: 0 }, 'svc:80');
  for (let i = 0; i < 100; i++) assert.equal(typeof b.admit('a:80', 'h1', undefined), 'function');
});
