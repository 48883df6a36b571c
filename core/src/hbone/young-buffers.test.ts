import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runGcChild } from '../../testing/gc-child.ts';

// In a child with --expose-gc, as the proxies run: relayed bytes are counted, and the count reaching the mark asks V8
// for a scavenge (perf_hooks gc kind 1), not a mark-compact (4). Below the mark, no collection at all.
const CHILD = `
import { PerformanceObserver } from 'node:perf_hooks';
import { relayedBytes, RELAYED_BYTES_PER_SCAVENGE } from './core/src/hbone/young-buffers.ts';
const kinds = [];
const seen = (ms) => new Promise((r) => setTimeout(r, ms)).then(() => kinds.splice(0));
new PerformanceObserver((l) => { for (const e of l.getEntries()) kinds.push(e.detail.kind); }).observe({ entryTypes: ['gc'] });
// Whatever loading the modules left to collect is collected first, and its entries dropped.
globalThis.gc();
await seen(200);
for (let i = 0; i < 15; i++) relayedBytes(RELAYED_BYTES_PER_SCAVENGE / 16);
const below = await seen(100);
relayedBytes(RELAYED_BYTES_PER_SCAVENGE / 16);
const at = await seen(100);
console.log(JSON.stringify({ below, at }));
`;

test('every RELAYED_BYTES_PER_SCAVENGE relayed bytes, one scavenge and no full collection', async () => {
  const out = await runGcChild(CHILD);
  const r = JSON.parse(out) as { below: number[]; at: number[] };
  assert.deepEqual(r.below, [], 'no collection before the mark');
  assert.deepEqual(r.at, [1], 'one scavenge at the mark');
});
