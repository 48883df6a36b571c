import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@ambit/core';

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
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', CHILD],
      { cwd: new URL('../../..', import.meta.url).pathname },
      (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`))),
    ),
  );
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

// A child allocates and drops 1 MiB buffers one after another, as bulk traffic does (TLS write coalescing): by
// default each is a fresh mmap, every page a fault; once the trim has set glibc's thresholds, the heap serves them.
const CHURN = `
import { startMemoryTrim } from './ztunnel/src/process/memory-trim.ts';
const keep = process.argv.at(-1) === 'keep';
if (keep) startMemoryTrim({ trace() {}, warn(o) { console.error(JSON.stringify(o)); } }, 60_000)();
const faults = () => process.resourceUsage().minorPageFault;
const before = faults();
for (let i = 0; i < 600; i++) {
  let b = Buffer.alloc(1024 * 1024, i);
  b = undefined;
  globalThis.gc();
}
console.log(faults() - before);
`;

test('once the trim runs, free() keeps large blocks for reuse instead of handing them back at once', async () => {
  const faults = (mode: string): Promise<number> =>
    new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', CHURN, mode],
        { cwd: new URL('../../..', import.meta.url).pathname },
        (err, stdout, stderr) => (err === null ? resolve(Number(stdout.trim())) : reject(new Error(`${err.message}\n${stderr}`))),
      ),
    );
  const byDefault = await faults('default');
  const kept = await faults('keep');
  // 600 × 1 MiB is 153 600 pages. glibc's defaults fault on thousands of them (9 500–22 600 measured: its dynamic
  // thresholds adapt, unevenly); kept, the same pages serve buffer after buffer (700–1 400, V8's own heap included).
  assert.ok(kept < 5_000, `thresholds kept: ${kept} page faults for 600 × 1 MiB (by default ${byDefault})`);
  assert.ok(kept < byDefault / 3, `thresholds kept: ${kept} page faults, by default ${byDefault}`);
});
