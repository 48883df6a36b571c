import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on every Linux Node runs on). */
const USER_HZ = 100;

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS');
}

/**
 * The process's private resident memory (RssAnon), in bytes: RSS without file-backed pages such as the node binary's
 * code, which every Node process on a machine shares through the page cache (~40 MB of a ztunnel's RSS).
 */
export function privateRssBytes(pid: number): number {
  return statusKb(pid, 'RssAnon');
}

export interface ProcessUsage {
  /** Mean CPU over the window, in vCPU (1 = one core busy). */
  readonly vcpu: number;
  /** Mean and peak RSS of the once-a-second samples, in bytes. */
  readonly rssMean: number;
  readonly rssMax: number;
  /** Mean private RSS (RssAnon), in bytes. */
  readonly privateRssMean: number;
}

/** Samples CPU time and RSS of some processes once a second between start() and stop(). */
export function sampleProcesses(pids: Readonly<Record<string, number>>): { stop(): Record<string, ProcessUsage> } {
  const names = Object.keys(pids);
  const t0 = performance.now();
  const cpu0 = new Map(names.map((n) => [n, cpuSeconds(pids[n]!)]));
  const rss = new Map<string, number[]>(names.map((n) => [n, [rssBytes(pids[n]!)]]));
  const anon = new Map<string, number[]>(names.map((n) => [n, [privateRssBytes(pids[n]!)]]));
  const sample = (): void => {
    for (const n of names) {
      rss.get(n)!.push(rssBytes(pids[n]!));
      anon.get(n)!.push(privateRssBytes(pids[n]!));
    }
  };
  const timer = setInterval(sample, 1000);
  return {
    stop(): Record<string, ProcessUsage> {
      clearInterval(timer);
      sample();
      const seconds = (performance.now() - t0) / 1000;
      const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      const out: Record<string, ProcessUsage> = {};
      for (const n of names) {
        const samples = rss.get(n)!;
        out[n] = {
          vcpu: (cpuSeconds(pids[n]!) - cpu0.get(n)!) / seconds,
          rssMean: mean(samples),
          rssMax: Math.max(...samples),
          privateRssMean: mean(anon.get(n)!),
        };
      }
      return out;
    },
  };
}
