// What a ztunnel DaemonSet rolling update with `maxSurge: 1, maxUnavailable: 0` does on one node (Istio's ztunnel
// chart; contract 6/7), for the runner that still starts ztunnel itself: start the new ztunnel next to the old one,
// wait until it is ready (it has bound every pod of the node agent's snapshot), then stop the old one with SIGTERM
// and the pod's termination grace period, during which it drains. Once the local cluster runs deploy/'s DaemonSet,
// `kubectl rollout restart ds/ztunnel` does the same and this goes.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { AmbitError } from '@ambit/core';
import type { ContainerHandle } from '../proc/supervisor.ts';

/** The message ztunnel logs once, when its `/healthz/ready` first answers 200 (ztunnel/src/ztunnel.ts). */
export const ZTUNNEL_READY_MESSAGE = 'ztunnel ready';

export interface SurgeReplaceOptions {
  readonly old: ContainerHandle;
  /** Starts the new ztunnel (same flags, same log file). */
  readonly start: () => ContainerHandle;
  /** The log both write to: readiness is the new process's ready line (its pid), not a probe of the shared port. */
  readonly logFile: string;
  /** How long the new one has to become ready, ms. */
  readonly readyTimeoutMs: number;
  /** SIGKILL after this long, ms: the DaemonSet's terminationGracePeriodSeconds, above ztunnel's drain. */
  readonly terminationGraceMs: number;
  /** Called once the new one is ready, before the old one is stopped. */
  readonly onReady?: (next: ContainerHandle) => void;
}

export interface SurgeReplaceResult {
  readonly next: ContainerHandle;
  readonly oldPid: number | undefined;
  readonly newPid: number;
  /** When the old one got SIGTERM (epoch ms): its drain deadline is this plus its --drain-seconds. */
  readonly sigtermAtMs: number;
  /** When it had exited (epoch ms). */
  readonly exitedAtMs: number;
}

/**
 * Why readiness is read from the log and not from 15021: both ztunnels listen on the node's 15021 with SO_REUSEPORT,
 * so a probe reaches either one, and the old one is ready. The new process's own ready line says it for certain.
 */
export async function surgeReplace(opts: SurgeReplaceOptions): Promise<SurgeReplaceResult> {
  const oldPid = opts.old.pid();
  // Only what is written from now on can be the new process's: the log is read on from here, not from the start
  // (it also holds every access line of the old ztunnel).
  const tail = createLogTail(opts.logFile);
  const next = opts.start();
  const deadline = Date.now() + opts.readyTimeoutMs;
  let newPid: number | undefined;
  for (;;) {
    newPid = next.pid();
    if (newPid !== undefined && tail.seen(newPid)) break;
    if (Date.now() > deadline) {
      await next.stop(opts.terminationGraceMs);
      throw new AmbitError(
        'ZTUNNEL_NOT_READY',
        `the new ztunnel (pid ${String(newPid)}) did not log "${ZTUNNEL_READY_MESSAGE}" within ${opts.readyTimeoutMs} ms; see ${opts.logFile}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  opts.onReady?.(next);
  const sigtermAtMs = Date.now();
  await opts.old.stop(opts.terminationGraceMs);
  return { next, oldPid, newPid, sigtermAtMs, exitedAtMs: Date.now() };
}

/** Reads a growing log from its current end on, remembering the pids whose ready line went by. */
function createLogTail(file: string): { seen(pid: number): boolean } {
  let offset = sizeOf(file);
  let partial = '';
  const ready = new Set<number>();
  return {
    seen(pid) {
      const size = sizeOf(file);
      if (size > offset) {
        const fd = openSync(file, 'r');
        try {
          const buf = Buffer.alloc(size - offset);
          const n = readSync(fd, buf, 0, buf.length, offset);
          offset += n;
          const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.includes(`"msg":"${ZTUNNEL_READY_MESSAGE}"`)) continue;
            const m = /"pid":(\d+),/.exec(line);
            if (m?.[1] !== undefined) ready.add(Number(m[1]));
          }
        } finally {
          closeSync(fd);
        }
      }
      return ready.has(pid);
    },
  };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
