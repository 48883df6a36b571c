import type { ConnectionCounts } from './metrics.ts';
import type { SoakLoadResults } from './load-loops.ts';
import { levelAt, type MemorySample } from './samples.ts';
import type { BenchEnvironment } from '../l4/environment.ts';

/** Connections one iperf3 transfer opens: its control connection and one data stream. */
export const IPERF3_CONNECTIONS_PER_TRANSFER = 2;
/** The goals (issue text): RSS at the end within 10 MB of minute 5's; descriptors may differ by in-flight churn. */
export const RSS_TOLERANCE_BYTES = 10e6;
export const FD_TOLERANCE = 2;

/** One ztunnel's part of the soak. */
export interface ZtunnelSoak {
  readonly node: string;
  /** Which of its counters hold the bench's connections: node1's as the client side, node2's as the server side. */
  readonly reporter: 'source' | 'destination';
  readonly pidBefore: number;
  readonly pidAfter: number;
  /** Every 10 s from the start of the load to its end. */
  readonly samples: MemorySample[];
  /** Idle, before the load and after it (once the last connections closed). */
  readonly idleBefore: MemorySample;
  readonly idleAfter: MemorySample;
  readonly countsBefore: ConnectionCounts;
  readonly countsAfter: ConnectionCounts;
}

/** Everything one `npm run bench -- l4-soak` measured, as written to bench/results/<date>-l4-soak.json. */
export interface SoakResults {
  readonly date: string;
  readonly environment: BenchEnvironment;
  readonly config: {
    readonly minutes: number;
    readonly rps: number;
    readonly conns: number;
    readonly churnLoops: number;
    /** Connections per second the churn is capped at; 0: uncapped. */
    readonly churnMaxPerSec: number;
    readonly transferEveryMinutes: number;
    readonly transferSize: string;
    readonly sampleEverySeconds: number;
    /** The minute the end is compared with: 5, or half the run when it is shorter than 10 minutes. */
    readonly baselineMinute: number;
  };
  readonly load: SoakLoadResults;
  readonly ztunnels: Record<string, ZtunnelSoak>;
  /** Reads of a ztunnel's /proc that failed during the load (a restart or crash). */
  readonly samplerErrors: string[];
}

export interface ClientCounts {
  readonly h2load: number;
  /** Churn connections that got their echo, and those that failed (each may have reached ztunnel). */
  readonly churn: number;
  readonly churnErrors: number;
  readonly iperf3: number;
  readonly total: number;
}

/** Connections the clients opened through the mesh, counted on the client side. */
export function clientCounts(r: SoakResults): ClientCounts {
  const h2load = r.load.h2load.reduce((n, s) => n + s.conns, 0);
  const churn = r.load.churn.reduce((n, c) => n + c.connections, 0);
  const churnErrors = r.load.churn.reduce((n, c) => n + c.errors, 0);
  const iperf3 = r.load.transfers.length * IPERF3_CONNECTIONS_PER_TRANSFER;
  return { h2load, churn, churnErrors, iperf3, total: h2load + churn + churnErrors + iperf3 };
}

/** h2load's totals over every segment (requests counted after each segment's warm-up second). */
export function requestTotals(r: SoakResults): { succeeded: number; failed: number; seconds: number; achievedRps: number } {
  const succeeded = r.load.h2load.reduce((n, s) => n + Math.round(s.achievedRps * s.seconds), 0);
  const failed = r.load.h2load.reduce((n, s) => n + s.failed, 0);
  const seconds = r.load.h2load.reduce((n, s) => n + s.seconds, 0);
  return { succeeded, failed, seconds, achievedRps: seconds === 0 ? 0 : succeeded / seconds };
}

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const signedMb = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${(bytes / 1e6).toFixed(1)} MB`;

/** The goals, each against what this run measured (a miss is reported, not hidden). */
export function goals(r: SoakResults): Goal[] {
  const out: Goal[] = [];
  const baseSec = r.config.baselineMinute * 60;
  const endSec = r.load.endSec;
  const clients = clientCounts(r);
  for (const [name, z] of Object.entries(r.ztunnels)) {
    const base = levelAt(z.samples, baseSec);
    const end = levelAt(z.samples, endSec);
    out.push({
      goal: `${name}: RSS at the end within 10 MB of minute ${r.config.baselineMinute}'s`,
      measured: `${mb(base.rss)} → ${mb(end.rss)} (${signedMb(end.rss - base.rss)}; private ${signedMb(end.private - base.private)})`,
      met: Math.abs(end.rss - base.rss) <= RSS_TOLERANCE_BYTES,
    });
    out.push({
      goal: `${name}: open fds at the end no more than minute ${r.config.baselineMinute}'s (± ${FD_TOLERANCE})`,
      measured: `${base.fds} → ${end.fds} (idle ${z.idleBefore.fds} before, ${z.idleAfter.fds} after)`,
      met: end.fds - base.fds <= FD_TOLERANCE,
    });
    out.push({
      goal: `${name}: the same process throughout (no restart)`,
      measured: z.pidBefore === z.pidAfter ? `pid ${z.pidBefore}` : `pid ${z.pidBefore} → ${z.pidAfter}`,
      met: z.pidBefore === z.pidAfter && !r.samplerErrors.some((e) => e.startsWith(name)),
    });
    const opened = z.countsAfter.opened - z.countsBefore.opened;
    const closed = z.countsAfter.closed - z.countsBefore.closed;
    out.push({
      goal: `${name}: connections (reporter="${z.reporter}") opened == closed == the clients' ${clients.total}`,
      measured: `opened ${opened}, closed ${closed}`,
      met: opened === closed && opened === clients.total,
    });
  }
  const req = requestTotals(r);
  out.push({
    goal: 'no failed requests, churn connections or transfers',
    measured: `${req.failed} failed requests, ${clients.churnErrors} failed churn connections, ${r.load.transfers.length} transfers done`,
    met: req.failed === 0 && clients.churnErrors === 0,
  });
  out.push({
    goal: `achieved rate ≥ 99% of ${r.config.rps} rps`,
    measured: `${req.achievedRps.toFixed(1)} rps`,
    met: req.achievedRps >= 0.99 * r.config.rps,
  });
  return out;
}
