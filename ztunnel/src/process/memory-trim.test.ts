import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ambit/core';
import { runGcChild } from '@ambit/core/testing';

// In a child process of its own (its RSS is what is measured): 64 MiB of 64 KiB buffers are used and dropped, as a
// bulk transfer leaves them; the process goes quiet; the trim must hand most of it back within a few intervals.
const CHILD = `
import { startMemoryTrim } from './ztunnel/src/process/memory-trim.ts';
const rss = () => process.memoryUsage.rss();
const base = rss();
let held = [];
for (let i = 0; i < 1024; i++) held.push(Buffer.alloc(65536, i));
held = held.filter((_, i) => i % 64 === 0);
const peak = rss();
const silent = { trace() {}, warn(o) { console.error(JSON.stringify(o)); } };
const stop = startMemoryTrim(silent, 100);
setTimeout(() => {
  stop();
  console.log(JSON.stringify({ base, peak, after: rss(), kept: held.length }));
}, 800);
`;

test('after traffic stops, dropped buffers are collected and their memory goes back to the OS', async () => {
  const out = await runGcChild(CHILD);
  const r = JSON.parse(out) as { base: number; peak: number; after: number };
  const grown = r.peak - r.base;
  assert.ok(grown > 48 * 1024 * 1024, `the buffers grew RSS by ${grown} bytes`);
  assert.ok(r.peak - r.after > grown * 0.7, `RSS ${r.base} → ${r.peak} → ${r.after}: most of the growth must be handed back`);
});

test('under load the trim runs only when malloc holds enough free memory to be worth its stall', async () => {
  const { startMemoryTrim } = await import('./memory-trim.ts');
  const intervalMs = 50;
  const busyFor = async (ms: number): Promise<void> => {
    // Busy more than 1% of every interval: the process counts as loaded, as under traffic.
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const spin = performance.now() + 3;
      while (performance.now() < spin);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const decisions = async (underLoadBytes: number): Promise<{ quiet: boolean; trimmed: boolean; free: number }[]> => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-trim-'));
    try {
      // The trim's trace lines are its decisions.
      const file = join(dir, 'log');
      const stop = startMemoryTrim(createLogger('trim-test', { level: 'trace', destination: file }), intervalMs, underLoadBytes);
      await busyFor(intervalMs * 4.5);
      stop();
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as { quiet: boolean; trimmed: boolean; free: number });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const never = await decisions(Number.MAX_SAFE_INTEGER);
  assert.ok(never.length >= 3, `${never.length} intervals ran`);
  assert.deepEqual(
    never.map((d) => [d.quiet, d.trimmed]),
    never.map(() => [false, false]),
    'busy, and free memory below the bar: no trim',
  );
  assert.ok(never.every((d) => d.free >= 0));
  const always = await decisions(-1);
  assert.deepEqual(
    always.map((d) => [d.quiet, d.trimmed]),
    always.map(() => [false, true]),
    'busy, and free memory above the bar: trimmed',
  );
});

// A child allocates and drops one 24 MiB buffer, as bulk traffic does with TLS write coalescing, and reads how much
// malloc then holds free. By default glibc serves such a block with mmap and unmaps it at free (the next one is fresh
// pages again: a page fault per 4 KiB); once the trim has set the thresholds, the heap serves it and keeps it.
const CHURN = `
import { startMemoryTrim } from './ztunnel/src/process/memory-trim.ts';
import { mallocFreeBytes } from './ztunnel/src/native/index.ts';
if (process.argv.at(-1) === 'keep') startMemoryTrim({ trace() {}, warn(o) { console.error(JSON.stringify(o)); } }, 60_000)();
// What loading the modules left behind is freed first, so only the block moves the count.
globalThis.gc();
await new Promise((r) => setTimeout(r, 200));
const before = mallocFreeBytes();
let b = Buffer.alloc(24 * 1024 * 1024, 1);
b = undefined;
globalThis.gc();
// The backing store is freed by V8's array buffer sweeper, after the collection.
await new Promise((r) => setTimeout(r, 200));
console.log(mallocFreeBytes() - before);
`;

test('once the trim runs, free() keeps a large block for reuse instead of unmapping it at once', async () => {
  const keptFree = async (mode: string): Promise<number> => Number((await runGcChild(CHURN, [mode])).trim());
  const MiB = 1024 * 1024;
  const byDefault = await keptFree('default');
  const kept = await keptFree('keep');
  assert.ok(byDefault < 8 * MiB, `glibc's defaults: ${byDefault} more bytes free after the 24 MiB block was freed (unmapped)`);
  assert.ok(kept >= 20 * MiB, `thresholds kept: ${kept} more bytes free after the 24 MiB block was freed (kept for reuse)`);
});
