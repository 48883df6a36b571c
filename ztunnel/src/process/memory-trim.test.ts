import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';

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
