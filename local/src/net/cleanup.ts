import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, type Logger } from '@ambit/core';
import { deleteNetns, killProcessesIn, listNetnsWithPrefix } from './netns.ts';
import { removeEtcNetns } from './topology.ts';
import { RUNNER_MARKER } from '../runner/paths.ts';

export { listNetnsWithPrefix } from './netns.ts';

export interface CleanupOptions {
  /** Namespace prefix of the cluster, `ambit-NAME-`. */
  readonly prefix: string;
  readonly stateDir: string;
  readonly log: Logger;
  /** Cluster name the runner's command line must contain; default: NAME taken from a prefix `ambit-NAME-`. */
  readonly clusterName?: string;
  /** Top-level entries of `stateDir` to leave in place (e.g. a kept API store); default none. */
  readonly keep?: readonly string[];
}

export interface CleanupReport {
  readonly runnerKilled: number | undefined;
  readonly namespaces: readonly string[];
  readonly killedPids: readonly number[];
}

/**
 * Removes what a killed or crashed run of the cluster left behind: its runner process, every namespace with the
 * prefix and what runs in it, the per-pod /etc/netns dirs, and the state dir's contents. Safe when nothing exists.
 * Runner first: a live runner would otherwise recreate what is being removed.
 */
export async function cleanupLeftovers(options: CleanupOptions): Promise<CleanupReport> {
  const log = options.log.child({ component: 'cleanup' });
  const clusterName = options.clusterName ?? /^ambit-(.+)-$/.exec(options.prefix)?.[1];
  const runnerKilled = clusterName === undefined ? undefined : await killStaleRunner(options.stateDir, clusterName, log);
  // Every process of the cluster besides the runner runs in a namespace of ours (pods, the DaemonSets in the nodes').
  const namespaces = await listNetnsWithPrefix(options.prefix);
  const killedPids: number[] = [];
  for (const ns of namespaces) {
    // Processes in a namespace of ours are ours (pods' containers, node agents): nothing else runs there.
    const killed = await killProcessesIn(ns);
    killedPids.push(...killed);
    await deleteNetns(ns);
    log.info({ netns: ns, killedPids: killed }, 'removed leftover namespace');
  }
  await removeEtcNetns(options.prefix);
  await emptyDir(options.stateDir, options.keep ?? []);
  return { runnerKilled, namespaces, killedPids };
}

/**
 * SIGKILLs the process named by `<stateDir>/runner.pid` if it is still alive and is really this cluster's runner
 * (its command line holds the marker and the cluster name): a PID file outlives its process, and the PID may since
 * belong to something else. Returns the PID it killed.
 */
async function killStaleRunner(stateDir: string, clusterName: string, log: Logger): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(join(stateDir, 'runner.pid'), 'utf8')).trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return undefined; // Not running any more.
  }
  if (!cmdline.includes(RUNNER_MARKER) || !cmdline.includes(clusterName)) {
    log.info({ pid }, 'runner.pid names a process that is not our runner; leaving it alone');
    return undefined;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    log.warn({ pid, err: errorMessage(err) }, 'could not kill leftover runner');
    return undefined;
  }
  log.warn({ pid }, 'killed leftover runner');
  await waitGone(pid, 5000);
  return pid;
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // A zombie has already released its namespaces and files; only its parent's wait is missing.
      if (/^\d+ \(.*\) Z/.test(stat)) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function emptyDir(dir: string, keep: readonly string[]): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return; // No state dir: nothing to remove.
  }
  await Promise.all(entries.filter((e) => !keep.includes(e)).map((e) => rm(join(dir, e), { recursive: true, force: true })));
}
