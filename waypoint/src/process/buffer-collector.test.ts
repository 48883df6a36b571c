import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { startBufferCollector } from './buffer-collector.ts';

test('collects once buffer memory grew by the garbage allowance above what the last collection left', async () => {
  let bytes = 10_000;
  const collections: number[] = [];
  const stop = startBufferCollector(silentLogger(), {
    intervalMs: 5,
    garbageBytes: 1_000,
    arrayBufferBytes: () => bytes,
    collect: () => {
      collections.push(bytes);
      bytes = 10_500; // what stays live after the collection: the new floor
    },
  });
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
  try {
    await tick(); // the first look sets the floor: 10 000
    bytes = 10_900; // under the allowance: nothing to do
    await tick();
    assert.deepEqual(collections, []);
    bytes = 11_000;
    await eventually(() => assert.deepEqual(collections, [11_000]));
    await tick(); // the look after a collection sets the new floor
    // The floor is now 10 500 (live data): 11 000 is not enough for another collection, 11 500 is.
    bytes = 11_000;
    await tick();
    assert.deepEqual(collections, [11_000]);
    bytes = 11_500;
    await eventually(() => assert.deepEqual(collections, [11_000, 11_500]));
  } finally {
    stop();
  }
});

test('a collector that throws is stopped, not retried every interval', async () => {
  let calls = 0;
  let bytes = 0;
  const stop = startBufferCollector(silentLogger(), {
    intervalMs: 5,
    garbageBytes: 1,
    arrayBufferBytes: () => (bytes += 10),
    collect: () => {
      calls += 1;
      throw new Error('no gc');
    },
  });
  await eventually(() => assert.equal(calls, 1));
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, 1);
  stop();
});
