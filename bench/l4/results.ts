import type { ConnRate, LatencyRun } from './load.ts';
import type { ProcessUsage } from './proc-sampler.ts';
import type { BenchEnvironment } from './environment.ts';

export const MODES = ['direct', 'ambit', 'haproxy'] as const;
export type Mode = (typeof MODES)[number];
export const PROXIED: readonly Mode[] = ['ambit', 'haproxy'];

/** Everything one `npm run bench -- l4` measured, as written to bench/results/<date>-l4.json. */
export interface L4Results {
  readonly date: string;
  readonly environment: BenchEnvironment;
  readonly config: {
    readonly rounds: number;
    readonly seconds: number;
    readonly warmupSeconds: number;
    readonly rates: readonly number[];
    readonly connections: readonly number[];
    readonly iperfSeconds: number;
    readonly idleConnections: number;
    readonly connRateSeconds: number;
    readonly connRateConcurrency: number;
  };
  /** One entry per (rate, connections, mode), runs in round order. */
  readonly latency: { rps: number; conns: number; mode: Mode; runs: LatencyRun[] }[];
  /** Per-proxy CPU and RSS over the same runs (the proxies of that mode). */
  readonly usage: { rps: number; conns: number; mode: Mode; runs: Record<string, ProcessUsage>[] }[];
  readonly throughput: { streams: number; mode: Mode; gbps: number[] }[];
  readonly connRate: { mode: Mode; runs: ConnRate[] }[];
  /** RSS of each proxy before and with the idle connections open (private RSS alongside). */
  readonly idle: {
    mode: Mode;
    connections: number;
    proxies: Record<string, { before: number; with: number; privateBefore: number; privateWith: number }>;
  }[];
}

/**
 * The entry of `list` that `match` picks, added from `fresh()` when there is none: the bench records run by run into
 * one entry per (figure, mode).
 */
export function entryFor<T>(list: T[], match: (x: T) => boolean, fresh: () => T): T {
  const found = list.find(match);
  if (found !== undefined) return found;
  const made = fresh();
  list.push(made);
  return made;
}

function latencyRuns(r: L4Results, rps: number, conns: number, mode: Mode): LatencyRun[] {
  return r.latency.find((x) => x.rps === rps && x.conns === conns && x.mode === mode)?.runs ?? [];
}

function throughputRuns(r: L4Results, streams: number, mode: Mode): number[] {
  return r.throughput.find((x) => x.streams === streams && x.mode === mode)?.gbps ?? [];
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(xs: readonly number[]): Spread {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { median: v.length === 0 ? NaN : v[Math.floor((v.length - 1) / 2)]!, min: v[0] ?? NaN, max: v[v.length - 1] ?? NaN, n: v.length };
}

/** Latency a mode adds over direct, per round (both runs valid), for one percentile. */
export function addedLatency(r: L4Results, rps: number, conns: number, mode: Mode, key: 'p50' | 'p90' | 'p99'): Spread {
  const direct = latencyRuns(r, rps, conns, 'direct');
  const added: number[] = [];
  latencyRuns(r, rps, conns, mode).forEach((run, i) => {
    const base = direct[i];
    if (base !== undefined && !base.void && !run.void) added.push(run[key] - base[key]);
  });
  return spread(added);
}

export function latencyOf(r: L4Results, rps: number, conns: number, mode: Mode, key: 'p50' | 'p90' | 'p99'): Spread {
  return spread(
    latencyRuns(r, rps, conns, mode)
      .filter((x) => !x.void)
      .map((x) => x[key]),
  );
}

export function voidRuns(r: L4Results): number {
  return r.latency.reduce((n, x) => n + x.runs.filter((run) => run.void).length, 0);
}

/** Throughput of a mode as a ratio to direct, per round. */
export function throughputRatio(r: L4Results, streams: number, mode: Mode): Spread {
  const direct = throughputRuns(r, streams, 'direct');
  return spread(throughputRuns(r, streams, mode).map((g, i) => g / (direct[i] ?? NaN)));
}

export function throughputOf(r: L4Results, streams: number, mode: Mode): Spread {
  return spread(throughputRuns(r, streams, mode));
}

/** vCPU per 1000 rps and mean RSS of each proxy of a mode at one rate. */
export function usageOf(
  r: L4Results,
  rps: number,
  conns: number,
  mode: Mode,
): Record<string, { vcpuPer1000: Spread; rssMb: Spread; privateMb: Spread }> {
  const runs = r.usage.find((x) => x.rps === rps && x.conns === conns && x.mode === mode)?.runs ?? [];
  const names = [...new Set(runs.flatMap((u) => Object.keys(u)))].sort();
  const out: Record<string, { vcpuPer1000: Spread; rssMb: Spread; privateMb: Spread }> = {};
  for (const n of names) {
    const us = runs.map((u) => u[n]).filter((u): u is ProcessUsage => u !== undefined);
    out[n] = {
      vcpuPer1000: spread(us.map((u) => u.vcpu / (rps / 1000))),
      rssMb: spread(us.map((u) => u.rssMean / 1e6)),
      privateMb: spread(us.map((u) => u.privateRssMean / 1e6)),
    };
  }
  return out;
}

export function connRateOf(r: L4Results, mode: Mode): Spread {
  return spread(r.connRate.find((x) => x.mode === mode)?.runs.map((c) => c.connsPerSec) ?? []);
}

/** Idle RSS per connection of each proxy of a mode, in bytes. */
export function idleBytesPerConnection(r: L4Results, mode: Mode): Record<string, number> {
  const e = r.idle.find((x) => x.mode === mode);
  const out: Record<string, number> = {};
  if (e === undefined) return out;
  for (const [n, v] of Object.entries(e.proxies)) out[n] = (v.with - v.before) / e.connections;
  return out;
}
