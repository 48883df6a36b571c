import type { LatencyRun } from '../l4/load.ts';
import { spread, type Spread } from '../l4/results.ts';
import type { Breakdown } from './breakdown.ts';
import type { ProfileSummary } from './cpu-profile.ts';
import type { ProbeWindow } from './process-probes.ts';
import type { BenchEnvironment } from '../l4/environment.ts';

export interface TailRun {
  readonly round: number;
  /** direct, ambit, haproxy, or one of them with a priority ("ambit nice -10"). */
  readonly mode: string;
  readonly latency: LatencyRun;
  /** Per proxy, per thread name: ms run and ms waited for a CPU, per second. */
  readonly threads: Record<string, Record<string, { runMs: number; waitMs: number }>>;
  /** Per ztunnel (Ambit runs): GC and event-loop delay over the run (pause list left out). */
  readonly probes: Record<string, Omit<ProbeWindow, 'pauses'> | undefined>;
  readonly tail: Breakdown | undefined;
  readonly captureDrops: number;
}

/** Everything one `npm run bench -- l4-tail` measured, as written to bench/results/<date>-l4-tail.json. */
export interface TailResults {
  readonly date: string;
  readonly environment: BenchEnvironment;
  readonly config: {
    readonly rounds: number;
    readonly seconds: number;
    readonly warmupSeconds: number;
    readonly rps: number;
    readonly conns: number;
    readonly capture: boolean;
    readonly ztunnelNodeOptions: string;
    readonly modes: readonly string[];
  };
  readonly runs: readonly TailRun[];
  /** Per proxied mode: the breakdown over every round's requests together. */
  readonly pooled: Record<string, Breakdown>;
  /** Per proxy: system calls per request, by name (the closing counted runs). */
  readonly syscallsPerRequest: Record<string, Record<string, number>>;
  /** Per ztunnel: its CPU profile's self time over the closing run. */
  readonly cpuProfiles: Record<string, ProfileSummary>;
}

const f = (s: Spread, digits = 0): string =>
  s.n === 0 ? 'void' : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

function added(r: TailResults, mode: string, key: 'p50' | 'p90' | 'p99'): Spread {
  const direct = r.runs.filter((x) => x.mode === 'direct');
  return spread(
    r.runs
      .filter((x) => x.mode === mode)
      .map((x) => {
        const base = direct.find((d) => d.round === x.round);
        return base === undefined || base.latency.void || x.latency.void ? NaN : x.latency[key] - base.latency[key];
      }),
  );
}

function phaseTable(b: Breakdown): string {
  let md = `${b.requests} requests followed across all six taps, the slowest ${b.slow} (≥ p99) broken down; total on the wire `;
  md += `(client lo → client lo): p50 ${Math.round(b.total.p50)}, p90 ${Math.round(b.total.p90)}, p99 ${Math.round(b.total.p99)} µs.\n\n`;
  md +=
    '| phase | median, all (µs) | p99, all (µs) | mean of slowest 1 % (µs) | slowest 1 % it dominates |\n| --- | --- | --- | --- | --- |\n';
  for (const p of b.phases) {
    md += `| ${p.phase} | ${Math.round(p.medianAll)} | ${Math.round(p.p99All)} | ${Math.round(p.meanSlow)} | ${(p.blamed * 100).toFixed(0)} % |\n`;
  }
  if (b.gcOverlapAll !== undefined && b.gcOverlapSlow !== undefined) {
    md += `\nA ztunnel GC pause overlapped the request's time in that ztunnel for ${(b.gcOverlapAll * 100).toFixed(1)} % of all requests`;
    md += ` and ${(b.gcOverlapSlow * 100).toFixed(1)} % of the slowest 1 %.\n`;
  }
  return md;
}

/** The report: added latency per mode, the tail's phases per proxy mode, GC and loop delay, threads' CPU and waits. */
export function tailMarkdown(r: TailResults): string {
  const e = r.environment;
  const c = r.config;
  let md = `# L4 latency tail, ${r.date}\n\n`;
  md += `Node ${e.node}, ${e.nproc} cores (${e.cpu}), kernel ${e.kernel}. ${c.rounds} interleaved rounds of ${c.seconds} s `;
  md += `(after ${c.warmupSeconds} s warm-up) at ${c.rps} rps over ${c.conns} connections, h2load --h1 POSTing 1 KiB to nginx `;
  md += `answering 1 KiB; client pod on node1, server pod on node2. ${c.capture ? 'Six taps captured every run (all modes alike).' : 'No captures.'}`;
  if (c.ztunnelNodeOptions.length > 0) md += ` ztunnel Node flags added: \`${c.ztunnelNodeOptions}\`.`;
  md += ` Method: \`bench/README.md\` (l4-tail).\n\n`;
  md += '## Latency (h2load), µs: median (min–max) over rounds\n\n';
  md += '| mode | p50 | p90 | p99 | added p50 | added p90 | added p99 | void runs |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n';
  for (const m of r.config.modes) {
    const runs = r.runs.filter((x) => x.mode === m);
    const valid = runs.filter((x) => !x.latency.void).map((x) => x.latency);
    const s = (k: 'p50' | 'p90' | 'p99'): string => f(spread(valid.map((l) => l[k])));
    const a = (k: 'p50' | 'p90' | 'p99'): string => (m === 'direct' ? '' : f(added(r, m, k)));
    md += `| ${m} | ${s('p50')} | ${s('p90')} | ${s('p99')} | ${a('p50')} | ${a('p90')} | ${a('p99')} | ${runs.length - valid.length} |\n`;
  }
  for (const [m, b] of Object.entries(r.pooled)) {
    const who = m.startsWith('ambit') ? 'Ambit (two ztunnels, HBONE)' : 'the HAProxy pair (mTLS)';
    const nice = m.includes(' nice ') ? `, main threads at${m.slice(m.indexOf(' nice '))}` : '';
    md += `\n## Where the time goes: ${who}${nice}\n\n${phaseTable(b)}`;
  }
  const probeRuns = r.runs.filter((x) => Object.keys(x.probes).length > 0);
  if (probeRuns.length > 0) {
    md += '\n## Inside each ztunnel (Ambit runs): GC and event-loop delay, median (min–max) over rounds\n\n';
    md +=
      '| ztunnel | GCs / s | GC ms / s | longest GC (ms) | loop delay p99 (ms, worst second) | loop delay max (ms) |\n| --- | --- | --- | --- | --- | --- |\n';
    for (const n of [...new Set(probeRuns.flatMap((x) => Object.keys(x.probes)))].sort()) {
      const ps = probeRuns.map((x) => x.probes[n]).filter((p): p is Omit<ProbeWindow, 'pauses'> => p !== undefined);
      const secs = r.config.seconds;
      md += `| ${n} | ${f(spread(ps.map((p) => p.gcCount / secs)), 2)} | ${f(spread(ps.map((p) => p.gcMsPerSecond)), 2)} | `;
      md += `${f(spread(ps.map((p) => p.gcMaxMs)), 2)} | ${f(spread(ps.map((p) => p.eldP99Ms)), 2)} | ${f(spread(ps.map((p) => p.eldMaxMs)), 2)} |\n`;
    }
  }
  md += '\n## Proxy threads: CPU ms run and ms waiting for a CPU, per second (median over rounds)\n\n';
  md += '| mode | proxy | thread | run ms/s | wait ms/s |\n| --- | --- | --- | --- | --- |\n';
  for (const m of r.config.modes.filter((x) => x !== 'direct')) {
    const runs = r.runs.filter((x) => x.mode === m);
    for (const proxy of [...new Set(runs.flatMap((x) => Object.keys(x.threads)))].sort()) {
      const names = [...new Set(runs.flatMap((x) => Object.keys(x.threads[proxy] ?? {})))].sort();
      for (const t of names) {
        const run = spread(runs.map((x) => x.threads[proxy]?.[t]?.runMs ?? 0));
        const wait = spread(runs.map((x) => x.threads[proxy]?.[t]?.waitMs ?? 0));
        md += `| ${m} | ${proxy} | ${t} | ${run.median.toFixed(1)} | ${wait.median.toFixed(2)} |\n`;
      }
    }
  }
  const proxies = Object.keys(r.syscallsPerRequest).sort();
  if (proxies.length > 0) {
    md += '\n## System calls per request (perf trace -s over a closing run, every thread)\n\n';
    const total = (p: string): number => Object.values(r.syscallsPerRequest[p] ?? {}).reduce((a, b) => a + b, 0);
    const names = [...new Set(proxies.flatMap((p) => Object.keys(r.syscallsPerRequest[p] ?? {})))]
      .filter((n) => proxies.some((p) => (r.syscallsPerRequest[p]?.[n] ?? 0) >= 0.05))
      .sort(
        (a, b) =>
          Math.max(...proxies.map((p) => r.syscallsPerRequest[p]?.[b] ?? 0)) -
          Math.max(...proxies.map((p) => r.syscallsPerRequest[p]?.[a] ?? 0)),
      );
    md += `| syscall | ${proxies.join(' | ')} |\n| --- |${proxies.map(() => ' --- |').join('')}\n`;
    md += `| **all** | ${proxies.map((p) => total(p).toFixed(2)).join(' | ')} |\n`;
    for (const n of names) md += `| ${n} | ${proxies.map((p) => (r.syscallsPerRequest[p]?.[n] ?? 0).toFixed(2)).join(' | ')} |\n`;
  }
  for (const [n, prof] of Object.entries(r.cpuProfiles).sort()) {
    md += `\n## CPU profile of ${n} (self time over ${(prof.totalMs / 1000).toFixed(1)} s sampled)\n\n`;
    md += `By kind: ${Object.entries(prof.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`)
      .join(', ')}.\n\n| function | self ms |\n| --- | --- |\n`;
    for (const t of prof.top) md += `| \`${t.fn}\` | ${t.ms.toFixed(1)} |\n`;
  }
  const drops = r.runs.reduce((a, x) => a + x.captureDrops, 0);
  if (r.config.capture) md += `\nPackets the taps dropped (kernel): ${drops}.\n`;
  return md;
}
