import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Pause } from './breakdown.ts';

/** A file in a ztunnel pod's /tmp (an emptyDir), seen from the host while the process lives. */
export function podTmpFile(pid: number, name: string): string {
  return `/proc/${pid}/root/tmp/${name}`;
}

// The names bench/l4-tail/probe.mjs uses in the pod's /tmp (it is plain JavaScript in the ztunnel's Node: it cannot
// import these).
/** What the probe writes every second. */
export const PROBE_LINES = 'ambit-probe.jsonl';
/** Seconds written here ask the probe for a CPU profile that long… */
export const PROFILE_REQUEST = 'ambit-probe-profile';
/** …which it writes here. */
export const PROFILE_OUTPUT = 'ambit-probe.cpuprofile';

export function probeFile(pid: number): string {
  return podTmpFile(pid, PROBE_LINES);
}

interface ProbeLine {
  readonly t: number;
  readonly eld: { readonly count: number; readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number };
  readonly gc: readonly (readonly [number, number, number])[];
}

export interface ProbeWindow {
  /** GC pauses that started in the window, wall clock µs. */
  readonly pauses: readonly Pause[];
  readonly gcCount: number;
  /** Time spent in GC, ms per second of the window. */
  readonly gcMsPerSecond: number;
  /** Longest GC pause, ms. */
  readonly gcMaxMs: number;
  /** Event-loop delay over the window's seconds: the worst per-second p99 and max, in ms. */
  readonly eldP99Ms: number;
  readonly eldMaxMs: number;
}

/** The probe's lines for the seconds in [fromMs, toMs], summarised; undefined when the probe wrote nothing there. */
export function probeWindow(pid: number, fromMs: number, toMs: number): ProbeWindow | undefined {
  const file = probeFile(pid);
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ProbeLine)
    .filter((l) => l.t >= fromMs && l.t <= toMs + 1000);
  if (lines.length === 0) return undefined;
  const gcs = lines.flatMap((l) => l.gc).filter(([start]) => start >= fromMs && start <= toMs);
  const seconds = (toMs - fromMs) / 1000;
  return {
    pauses: gcs.map(([start, d]) => ({ start: start * 1000, end: (start + d) * 1000 })),
    gcCount: gcs.length,
    gcMsPerSecond: gcs.reduce((a, [, d]) => a + d, 0) / seconds,
    gcMaxMs: gcs.reduce((a, [, d]) => Math.max(a, d), 0),
    eldP99Ms: Math.max(...lines.map((l) => l.eld.p99)),
    eldMaxMs: Math.max(...lines.map((l) => l.eld.max)),
  };
}

/** Per thread of a process: CPU time run and time spent waiting for a CPU (runnable, not running), in ns. */
export type ThreadTimes = Record<string, { readonly runNs: number; readonly waitNs: number }>;

/** /proc/<pid>/task/<tid>/schedstat of every thread, summed per thread name (V8 workers share a name). */
export function threadTimes(pid: number): ThreadTimes {
  const out: Record<string, { runNs: number; waitNs: number }> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const [run = '0', wait = '0'] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ');
      const t = (out[name] ??= { runNs: 0, waitNs: 0 });
      t.runNs += Number(run);
      t.waitNs += Number(wait);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return out;
}

/** Per thread name: ms run and ms waited for a CPU per second of wall time between two readings. */
export function threadRates(before: ThreadTimes, after: ThreadTimes, seconds: number): Record<string, { runMs: number; waitMs: number }> {
  const out: Record<string, { runMs: number; waitMs: number }> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { runNs: 0, waitNs: 0 };
    const runMs = (a.runNs - b.runNs) / 1e6 / seconds;
    const waitMs = (a.waitNs - b.waitNs) / 1e6 / seconds;
    if (runMs > 0.05 || waitMs > 0.05) out[name] = { runMs, waitMs };
  }
  return out;
}
