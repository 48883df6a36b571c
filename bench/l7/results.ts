import type { LatencyRun } from '../l4/load.ts';
import type { ProcessUsage } from '../l4/proc-sampler.ts';
import { spread, type Spread } from '../l4/results.ts';
import type { BenchEnvironment } from '../l4/environment.ts';

/**
 * The modes of `npm run bench -- l7`, measured interleaved in one run:
 *   l4        client → ztunnel → HBONE → ztunnel → server (no L7 hop; the baseline)
 *   waypoint  client → ztunnel → HBONE → Ambit's waypoint → HBONE → ztunnel → server
 *   nginx     client → ztunnel → HBONE → ztunnel → nginx (proxy_pass, upstream keep-alive) → ztunnel → HBONE → ztunnel → server
 */
export const L7_MODES = ['l4', 'waypoint', 'nginx'] as const;
export type L7Mode = (typeof L7_MODES)[number];
/** The modes with an L7 hop, compared with l4. */
export const HOPS = ['waypoint', 'nginx'] as const;
export type Hop = (typeof HOPS)[number];
export const PROTOCOLS = ['h1', 'h2c'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** A fixed total rate, or as fast as the connections go. */
export type Rate = number | 'max';
/** Name of the L7 hop process in each run's usage record. */
export const HOP_PROCESS = 'l7 hop';

export interface L7Run {
  readonly latency: LatencyRun;
  /** CPU and RSS of the mode's proxies over the run (ztunnels, and the L7 hop as HOP_PROCESS). */
  readonly usage: Record<string, ProcessUsage>;
}

/** Everything one `npm run bench -- l7` measured, as written to bench/results/<date>-l7.json. */
export interface L7Results {
  readonly date: string;
  readonly environment: BenchEnvironment;
  readonly config: {
    readonly rounds: number;
    readonly seconds: number;
    readonly warmupSeconds: number;
    readonly rates: readonly number[];
    readonly connections: number;
    readonly bodyBytes: number;
  };
  /** Modes measured, and why any was not. */
  readonly modes: readonly L7Mode[];
  readonly unavailable: Partial<Record<L7Mode, string>>;
  /** Where the L7 hops ran (node), for the record. */
  readonly placement: Partial<Record<L7Mode, string>>;
  /** One entry per (protocol, rate, mode), runs in round order. */
  readonly runs: { protocol: Protocol; rate: Rate; mode: L7Mode; runs: L7Run[] }[];
}

function runsOf(r: L7Results, protocol: Protocol, rate: Rate, mode: L7Mode): L7Run[] {
  return r.runs.find((x) => x.protocol === protocol && x.rate === rate && x.mode === mode)?.runs ?? [];
}

/** Latency a mode adds over l4 at a fixed rate, per round (both runs valid), in µs. */
export function addedOverL4(r: L7Results, protocol: Protocol, rate: number, mode: Hop, key: 'p50' | 'p90' | 'p99'): Spread {
  const base = runsOf(r, protocol, rate, 'l4');
  const added: number[] = [];
  runsOf(r, protocol, rate, mode).forEach((run, i) => {
    const b = base[i]?.latency;
    if (b !== undefined && !b.void && !run.latency.void) added.push(run.latency[key] - b[key]);
  });
  return spread(added);
}

export function latencyOf(r: L7Results, protocol: Protocol, rate: Rate, mode: L7Mode, key: 'p50' | 'p90' | 'p99'): Spread {
  return spread(
    runsOf(r, protocol, rate, mode)
      .filter((x) => !x.latency.void)
      .map((x) => x.latency[key]),
  );
}

export function maxRps(r: L7Results, protocol: Protocol, mode: L7Mode): Spread {
  return spread(runsOf(r, protocol, 'max', mode).map((x) => x.latency.achievedRps));
}

export function voidRuns(r: L7Results): number {
  return r.runs.reduce((n, x) => n + x.runs.filter((run) => run.latency.void).length, 0);
}

/**
 * Cost of each process of a mode at a rate: vCPU per 1000 rps (per the rate achieved, so maximum-rate runs compare),
 * mean RSS and private RSS in MB, peak RSS in MB.
 */
export function usageOf(
  r: L7Results,
  protocol: Protocol,
  rate: Rate,
  mode: L7Mode,
): Record<string, { vcpuPer1000: Spread; rssMb: Spread; peakMb: Spread; privateMb: Spread }> {
  const runs = runsOf(r, protocol, rate, mode);
  const names = [...new Set(runs.flatMap((x) => Object.keys(x.usage)))].sort();
  const out: Record<string, { vcpuPer1000: Spread; rssMb: Spread; peakMb: Spread; privateMb: Spread }> = {};
  for (const n of names) {
    const us = runs
      .map((x) => ({ u: x.usage[n], rps: x.latency.achievedRps }))
      .filter((x): x is { u: ProcessUsage; rps: number } => x.u !== undefined && x.rps > 0);
    out[n] = {
      vcpuPer1000: spread(us.map((x) => x.u.vcpu / (x.rps / 1000))),
      rssMb: spread(us.map((x) => x.u.rssMean / 1e6)),
      peakMb: spread(us.map((x) => x.u.rssMax / 1e6)),
      privateMb: spread(us.map((x) => x.u.privateRssMean / 1e6)),
    };
  }
  return out;
}

/** The L7 hop's vCPU per 1000 rps for a mode at a rate (NaN when not measured). */
export function hopCpu(r: L7Results, protocol: Protocol, rate: Rate, mode: Hop): Spread {
  return usageOf(r, protocol, rate, mode)[HOP_PROCESS]?.vcpuPer1000 ?? spread([]);
}
