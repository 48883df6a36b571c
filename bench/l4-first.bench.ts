// First L4 numbers (issue 4; the full benchmark is issue 7): on a 2-node local cluster, a client pod on node1 and a
// server pod on node2, measured side by side in one run —
//   direct: plain/outsider → plain/plainsrv (no mesh: bridge + routing only)
//   ambit:  mesh/client → mesh/server (captured on both ends, HBONE mTLS between the two ztunnels)
// Figures: 1 KiB request/response round trip (p50/p90/p99 over one connection) and single-stream throughput.
// Each mode runs ROUNDS times, interleaved; medians with min–max are printed. Needs root.
import { spawn } from 'node:child_process';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { ambitctl, ambitctlOk, fixtureCopy, podNetns, pods, removeDir } from '../test/integration/helpers/ambitctl.ts';

const CLUSTER = 'bench-l4';
const ROUNDS = 3;
const LATENCY_N = 5000;
const THROUGHPUT_MB = 1024;
const CLIENT = join(import.meta.dirname, 'apps', 'l4-client.mjs');

function runIn(netns: string, args: readonly string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, CLIENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`l4-client ${args.join(' ')}: ${err}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (xs: number[], digits = 0): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

if (process.getuid?.() !== 0) {
  console.log('l4-first: skipped (needs root to create network namespaces)');
  process.exit(0);
}
const dir = fixtureCopy('mesh');
try {
  await ambitctlOk(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 120_000 });
  const ipOf = async (ns: string, name: string): Promise<string> => {
    const p = (await pods(CLUSTER, ns)).find((x) => x.name === name);
    if (p === undefined) throw new Error(`no pod ${ns}/${name}`);
    return p.ip;
  };
  const modes = {
    direct: { netns: await podNetns(CLUSTER, 'plain', 'outsider'), server: await ipOf('plain', 'plainsrv') },
    ambit: { netns: await podNetns(CLUSTER, 'mesh', 'client'), server: await ipOf('mesh', 'server') },
  };
  const results: Record<string, { p50: number[]; p90: number[]; p99: number[]; mbPerSec: number[] }> = {
    direct: { p50: [], p90: [], p99: [], mbPerSec: [] },
    ambit: { p50: [], p90: [], p99: [], mbPerSec: [] },
  };
  // Warm-up: JIT, pool, certificates.
  for (const m of Object.values(modes)) await runIn(m.netns, ['latency', m.server, '7000', '500']);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, m] of Object.entries(modes)) {
      const lat = await runIn(m.netns, ['latency', m.server, '7000', String(LATENCY_N)]);
      const tp = await runIn(m.netns, ['throughput', m.server, '7003', String(THROUGHPUT_MB)]);
      const r = results[name]!;
      r.p50.push(lat['p50'] ?? NaN);
      r.p90.push(lat['p90'] ?? NaN);
      r.p99.push(lat['p99'] ?? NaN);
      r.mbPerSec.push(tp['mbPerSec'] ?? NaN);
    }
  }
  const d = results['direct']!;
  const a = results['ambit']!;
  console.log(`node ${process.version}, ${cpus().length} cpus, kernel ${release()}, ${ROUNDS} rounds, median (min–max)`);
  console.log('| figure | direct | ambit | added / ratio |');
  console.log('|---|---|---|---|');
  for (const k of ['p50', 'p90', 'p99'] as const) {
    console.log(`| 1 KiB round trip ${k} (µs) | ${fmt(d[k])} | ${fmt(a[k])} | +${(median(a[k]) - median(d[k])).toFixed(0)} µs |`);
  }
  console.log(`| single stream (MiB/s) | ${fmt(d.mbPerSec)} | ${fmt(a.mbPerSec)} | ${(median(a.mbPerSec) / median(d.mbPerSec)).toFixed(2)} × direct |`);
} finally {
  await ambitctl(CLUSTER, ['local', 'down']);
  removeDir(dir);
}
