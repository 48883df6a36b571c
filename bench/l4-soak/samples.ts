import { readdirSync } from 'node:fs';
import { privateRssBytes, rssBytes } from '../l4/proc-sampler.ts';

/** One reading of a process's memory and descriptors, `tSec` seconds after the soak's load started. */
export interface MemorySample {
  readonly tSec: number;
  /** VmRSS, bytes. */
  readonly rss: number;
  /** RssAnon (private resident memory), bytes. */
  readonly private: number;
  /** Entries of /proc/<pid>/fd. */
  readonly fds: number;
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function readSample(pid: number, tSec: number): MemorySample {
  return { tSec, rss: rssBytes(pid), private: privateRssBytes(pid), fds: openFds(pid) };
}

/**
 * Samples some processes every `everyMs` from start until stop(). A process that cannot be read (gone: restarted or
 * crashed) is recorded as an error rather than thrown, since a throw inside the timer would end the bench without its
 * cleanup; the bench turns the error into a failed verdict.
 */
export function sampleMemory(
  pids: Readonly<Record<string, number>>,
  everyMs: number,
): { stop(): { samples: Record<string, MemorySample[]>; errors: string[] } } {
  const t0 = performance.now();
  const samples: Record<string, MemorySample[]> = Object.fromEntries(Object.keys(pids).map((n) => [n, []]));
  const errors: string[] = [];
  const sample = (): void => {
    const tSec = (performance.now() - t0) / 1000;
    for (const [name, pid] of Object.entries(pids)) {
      try {
        samples[name]?.push(readSample(pid, tSec));
      } catch (err) {
        errors.push(`${name} (pid ${pid}) at ${tSec.toFixed(0)} s: ${(err as Error).message}`);
      }
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { samples, errors };
    },
  };
}

function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : (v[Math.floor((v.length - 1) / 2)] ?? NaN);
}

/**
 * A process's memory "at" second `atSec`: the median of the samples of the minute up to it. One 10 s sample can fall on
 * a collection or an iperf3 burst; the median of six reads the level the process sits at, which is what a leak moves.
 */
export function levelAt(samples: readonly MemorySample[], atSec: number): { rss: number; private: number; fds: number; n: number } {
  const window = samples.filter((s) => s.tSec > atSec - 60 && s.tSec <= atSec + 1);
  return {
    rss: median(window.map((s) => s.rss)),
    private: median(window.map((s) => s.private)),
    fds: median(window.map((s) => s.fds)),
    n: window.length,
  };
}
