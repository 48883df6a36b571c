import assert from 'node:assert/strict';
import { test } from 'node:test';
import { abortReply, drawFault, faultDelay, type FaultFilter } from './fault.ts';
import { WaypointError } from './errors.ts';

/** A random source replaying `values`. */
const seq = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

test('fault draws: percent/100 probability each, delay and abort drawn independently', () => {
  const f: FaultFilter = {
    type: 'Fault',
    fault: 'demo/f',
    delay: { percent: 10, fixedDelayMs: 200 },
    abort: { percent: 10, httpStatus: 503 },
  };
  assert.deepEqual(drawFault(f, seq(0.05, 0.5)), { delayMs: 200 });
  assert.deepEqual(drawFault(f, seq(0.5, 0.099)), { abort: { percent: 10, httpStatus: 503 } });
  assert.deepEqual(drawFault(f, seq(0.1, 0.1)), {}, '10 % means draws below 0.1');
  assert.deepEqual(drawFault(f, seq(0, 0)), { delayMs: 200, abort: { percent: 10, httpStatus: 503 } });
  // 100 % always, 0 % never, whatever the draw.
  const always: FaultFilter = { type: 'Fault', fault: 'demo/f', abort: { percent: 100, grpcStatus: 14 } };
  assert.ok(drawFault(always, seq(0.999999)).abort !== undefined);
  assert.deepEqual(drawFault({ type: 'Fault', fault: 'demo/f', delay: { percent: 0, fixedDelayMs: 1 } }, seq(0)), {});
  // Over many draws with a seeded generator, 10 % comes out near 10 %.
  let x = 42;
  const lcg = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let aborts = 0;
  for (let i = 0; i < 20_000; i++)
    if (drawFault({ type: 'Fault', fault: 'f', abort: { percent: 10, httpStatus: 503 } }, lcg).abort) aborts++;
  assert.ok(aborts > 1_800 && aborts < 2_200, `${aborts} aborts`);
});

test('abort replies: an HTTP status with Envoy body, or a gRPC trailers-only 200', () => {
  assert.deepEqual(abortReply({ percent: 100, httpStatus: 503 }), {
    status: 503,
    grpcStatus: undefined,
    headers: [],
    body: 'fault filter abort',
  });
  assert.deepEqual(abortReply({ percent: 100, grpcStatus: 14 }), {
    status: 200,
    grpcStatus: 14,
    headers: [
      ['content-type', 'application/grpc'],
      ['grpc-status', '14'],
      ['grpc-message', 'fault filter abort'],
    ],
    body: undefined,
  });
});

test('a fault delay waits, stops at the request deadline with a timeout, and ends when the client goes away', async () => {
  let t0 = performance.now();
  await faultDelay(50, undefined, () => undefined);
  assert.ok(performance.now() - t0 >= 45);
  t0 = performance.now();
  await assert.rejects(
    faultDelay(5_000, performance.now() + 30, () => undefined),
    (e: unknown) => {
      return e instanceof WaypointError && e.code === 'UPSTREAM_TIMEOUT';
    },
  );
  assert.ok(performance.now() - t0 < 1_000);
  let gone: () => void = () => undefined;
  const waiting = faultDelay(5_000, undefined, (cb) => (gone = cb));
  gone();
  await assert.rejects(waiting, (e: unknown) => e instanceof WaypointError && e.code === 'DOWNSTREAM_GONE');
});
