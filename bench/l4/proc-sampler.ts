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

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export interface ProcessUsage {
  /** Mean CPU over the window, in vCPU (1 = one core busy). */
  readonly vcpu: number;
  /** Mean and peak RSS of the once-a-second samples, in bytes. */
  readonly rssMean: number;
  readonly rssMax: number;
}

/** Samples CPU time and RSS of some processes once a second between start() and stop(). */
export function sampleProcesses(pids: Readonly<Record<string, number>>): { stop(): Record<string, ProcessUsage> } {
  const names = Object.keys(pids);
  const t0 = performance.now();
  const cpu0 = new Map(names.map((n) => [n, cpuSeconds(pids[n]!)]));
  const rss = new Map<string, number[]>(names.map((n) => [n, [rssBytes(pids[n]!)]]));
  const timer = setInterval(() => {
    for (const n of names) rss.get(n)!.push(rssBytes(pids[n]!));
  }, 1000);
  return {
    stop(): Record<string, ProcessUsage> {
      clearInterval(timer);
      const seconds = (performance.now() - t0) / 1000;
      const out: Record<string, ProcessUsage> = {};
      for (const n of names) {
        const samples = rss.get(n)!;
        samples.push(rssBytes(pids[n]!));
        out[n] = {
          vcpu: (cpuSeconds(pids[n]!) - cpu0.get(n)!) / seconds,
          rssMean: samples.reduce((a, b) => a + b, 0) / samples.length,
          rssMax: Math.max(...samples),
        };
      }
      return out;
    },
  };
}
