// What the hand-over test needs to know of a `kubectl rollout restart ds/ztunnel` that it cannot choose: the drain
// each old ztunnel was given (from the rendered DaemonSet), and on every node when its old ztunnel was told to stop and
// when it exited. The DaemonSet controller picks the order of the nodes (maxSurge 1: one node at a time, the old pod
// deleted once the new one is ready); the old pods' own log lines and processes say what happened where.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterPaths } from '@ambit/local';
import { componentPid, componentPod } from './mesh-components.ts';
import { run } from './ambitctl.ts';

/** What ztunnel logs when it starts to drain (SIGTERM) and right before it exits (ztunnel/src/main.ts). */
const DRAINING = 'draining';
const STOPPED = 'stopped';

export interface OldZtunnel {
  readonly node: string;
  readonly pod: string;
  readonly pid: number;
  /** When it got SIGTERM (epoch ms, its own log line): its drain deadline is this plus `--drain-seconds`. */
  readonly sigtermAtMs: number;
  /** When it exited (epoch ms): its last log line, or when its process was first seen gone. */
  readonly exitedAtMs: number;
}

/** `--drain-seconds` of the ztunnel container of DaemonSet ambit-system/ztunnel, as the API server has it. */
export async function ztunnelDrainSeconds(paths: ClusterPaths): Promise<number> {
  const r = await run(['kubectl', '--kubeconfig', paths.kubeconfig, '-n', 'ambit-system', 'get', 'ds', 'ztunnel', '-o', 'json'], {
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(`kubectl get ds ztunnel: ${r.stderr}`);
  const ds = JSON.parse(r.stdout) as { spec?: { template?: { spec?: { containers?: Array<{ name?: string; args?: string[] }> } } } };
  const container = ds.spec?.template?.spec?.containers?.find((c) => c.name === 'ztunnel');
  const args = container?.args ?? [];
  const i = args.findIndex((a) => a === '--drain-seconds' || a.startsWith('--drain-seconds='));
  const text = i < 0 ? undefined : args[i]?.includes('=') ? args[i]?.split('=')[1] : args[i + 1];
  const seconds = Number(text);
  if (text === undefined || !Number.isInteger(seconds) || seconds <= 0)
    throw new Error(`DaemonSet ambit-system/ztunnel, container ztunnel: args carry no positive --drain-seconds (${JSON.stringify(args)})`);
  return seconds;
}

interface Watched {
  readonly node: string;
  readonly pod: string;
  readonly pid: number;
  /** /proc/PID/stat field 22: tells the process apart from a later one given the same pid. */
  readonly startTicks: string;
  readonly logFile: string;
  offset: number;
  partial: string;
  sigtermAtMs?: number;
  stoppedAtMs?: number;
  exitedAtMs?: number;
}

/** The process's start time in clock ticks, or undefined once it is gone (or a zombie: it has exited). */
function startTicks(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces), from field 3 (state) on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' ? undefined : fields[19];
}

/** Reads what the pod's log gained since the last call: the kubelet removes the file once the pod is torn down. */
function readNewLines(w: Watched): string[] {
  let fd: number;
  try {
    fd = openSync(w.logFile, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= w.offset) return [];
    const buf = Buffer.alloc(size - w.offset);
    const n = readSync(fd, buf, 0, buf.length, w.offset);
    w.offset += n;
    const text = w.partial + buf.subarray(0, n).toString('utf8');
    const lines = text.split('\n');
    w.partial = lines.pop() ?? '';
    return lines;
  } finally {
    closeSync(fd);
  }
}

function scan(w: Watched): void {
  for (const line of readNewLines(w)) {
    // Access lines are most of the file: only the two lines of the shutdown are parsed.
    if (!line.includes(`"msg":"${DRAINING}"`) && !line.includes(`"msg":"${STOPPED}"`)) continue;
    const rec = JSON.parse(line) as { pid?: number; time?: number; msg?: string };
    if (rec.pid !== w.pid || typeof rec.time !== 'number') continue;
    if (rec.msg === DRAINING) w.sigtermAtMs ??= rec.time;
    else if (rec.msg === STOPPED) w.stoppedAtMs ??= rec.time;
  }
}

export interface OldZtunnelsWatch {
  /** Resolves once every watched ztunnel got SIGTERM: each node's new ztunnel is ready. */
  readonly stopping: Promise<void>;
  /** Resolves once each logged its SIGTERM and exited, in the order of their SIGTERMs. */
  readonly exited: Promise<OldZtunnel[]>;
}

/**
 * Starts watching the ztunnel that runs on each of `nodes` now (call it before `kubectl rollout restart`). Both
 * promises reject when one exited without draining, or at `timeoutMs`.
 */
export function watchOldZtunnels(paths: ClusterPaths, nodes: readonly string[], timeoutMs: number): OldZtunnelsWatch {
  const watched: Watched[] = nodes.map((node) => {
    const pod = componentPod(paths, 'ztunnel', node);
    const pid = componentPid(paths, 'ztunnel', node);
    const ticks = startTicks(pid);
    if (ticks === undefined) throw new Error(`ztunnel ${pod} on ${node}: pid ${pid} is gone already`);
    const w: Watched = {
      node,
      pod,
      pid,
      startTicks: ticks,
      logFile: join(paths.logDir, 'ambit-system', pod, 'ztunnel.log'),
      offset: 0,
      partial: '',
    };
    // Whatever it logged so far is not its shutdown: skip it once, instead of on every poll.
    scan(w);
    return w;
  });
  const startedAtMs = Date.now();
  let stoppingSeen = (): void => undefined;
  let failStopping = (_err: Error): void => undefined;
  const stopping = new Promise<void>((resolve, reject) => {
    stoppingSeen = resolve;
    failStopping = reject;
  });
  // Awaited by the caller; not an unhandled rejection when the caller only awaits `exited`.
  stopping.catch(() => undefined);
  const exited = new Promise<OldZtunnel[]>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        for (const w of watched) {
          if (w.exitedAtMs !== undefined) continue;
          scan(w);
          if (startTicks(w.pid) === w.startTicks) continue;
          const goneAtMs = Date.now();
          scan(w); // its last lines, if the file is still there
          if (w.sigtermAtMs === undefined)
            throw new Error(`ztunnel ${w.pod} on ${w.node} (pid ${w.pid}) exited without logging "${DRAINING}"`);
          w.exitedAtMs = w.stoppedAtMs ?? goneAtMs;
        }
        if (watched.every((w) => w.sigtermAtMs !== undefined)) stoppingSeen();
        if (watched.every((w) => w.exitedAtMs !== undefined)) {
          clearInterval(timer);
          resolve(
            watched
              .map((w) => ({ node: w.node, pod: w.pod, pid: w.pid, sigtermAtMs: w.sigtermAtMs ?? 0, exitedAtMs: w.exitedAtMs ?? 0 }))
              .sort((a, b) => a.sigtermAtMs - b.sigtermAtMs),
          );
        } else if (Date.now() - startedAtMs > timeoutMs) {
          const state = watched.map(
            (w) => `${w.node} ${w.pod} pid ${w.pid}: sigterm ${String(w.sigtermAtMs)}, exited ${String(w.exitedAtMs)}`,
          );
          throw new Error(`old ztunnels not all drained and exited within ${timeoutMs} ms: ${state.join('; ')}`);
        }
      } catch (err) {
        clearInterval(timer);
        const error = err instanceof Error ? err : new Error(String(err));
        failStopping(error);
        reject(error);
      }
    }, 50);
  });
  exited.catch(() => undefined); // likewise, while the caller awaits other steps first
  return { stopping, exited };
}
