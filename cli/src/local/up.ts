import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError } from '@ambit/core';
import { RUNNER_ENTRY, RUNNER_MARKER, REPO_ROOT, cleanupLeftovers, loadManifests, manifestFiles } from '@ambit/local';
import { silentLogger } from '@ambit/core';
import { isAlive, readRunnerInfo, type LocalContext } from './context.ts';
import { printSummary } from './get.ts';

export interface UpOptions {
  readonly dir: string;
  readonly nodes: number;
  readonly timeoutMs: number;
  /** Workload certificate lifetime the ztunnels ask for (default 24 h); short values exercise rotation. */
  readonly certTtlSeconds?: number;
}

/**
 * Starts the cluster's runner in the background and returns once every pod runs. Manifests are parsed and
 * validated here first, so a bad file fails before anything is created; a runner that fails is cleaned up after.
 */
export async function up(ctx: LocalContext, opts: UpOptions): Promise<void> {
  const { paths } = ctx;
  const prior = readRunnerInfo(ctx);
  if (prior !== undefined && isAlive(prior.pid) && isOurRunner(prior.pid, paths.name)) {
    throw new AmbitError('CLUSTER_UP', `local cluster "${paths.name}" is already up (pid ${prior.pid}); run \`ambitctl local down\` first`);
  }
  const dir = resolve(opts.dir);
  if (!existsSync(dir)) throw new AmbitError('NO_MANIFESTS', `manifest directory ${opts.dir} does not exist`);
  loadManifests(manifestFiles(dir)); // throws ManifestError with file:document:field
  // A runner killed earlier (even with SIGKILL) leaves namespaces and processes: remove them before starting.
  await cleanupLeftovers({ prefix: paths.prefix, stateDir: paths.stateDir, clusterName: paths.name, log: silentLogger() });
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(paths.runnerLog), { recursive: true });
  const logFd = openSync(paths.runnerLog, 'w');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      RUNNER_ENTRY,
      RUNNER_MARKER,
      ...['--name', paths.name, '--state-dir', paths.stateDir, '--nodes', String(opts.nodes), '-f', dir],
      ...['--ready-timeout', String(Math.ceil(opts.timeoutMs / 1000))],
      ...(opts.certTtlSeconds === undefined ? [] : ['--cert-ttl', String(opts.certTtlSeconds)]),
    ],
    { cwd: REPO_ROOT, detached: true, stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const pid = child.pid;
  child.unref();
  if (pid === undefined) throw new AmbitError('RUNNER_FAILED', 'could not start the cluster runner');
  // The runner enforces the readiness timeout and says which pods are late; this one only catches a hung runner.
  const deadline = Date.now() + opts.timeoutMs + 30_000;
  for (;;) {
    const info = readRunnerInfo(ctx);
    if (info?.pid === pid && info.state === 'ready') break;
    const failed = info?.pid === pid && info.state === 'failed';
    if (failed || !isAlive(pid) || Date.now() > deadline) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await cleanupLeftovers({ prefix: paths.prefix, stateDir: paths.stateDir, clusterName: paths.name, log: silentLogger() });
      rmSync(paths.stateDir, { recursive: true, force: true });
      const why = failed
        ? (info?.error ?? 'failed')
        : Date.now() > deadline
          ? `not ready after ${opts.timeoutMs / 1000}s`
          : 'runner exited';
      throw new AmbitError(
        'UP_FAILED',
        `local cluster "${paths.name}" did not come up: ${why}\n--- runner log (${paths.runnerLog}) ---\n${tail(paths.runnerLog)}`,
      );
    }
    await sleep(100);
  }
  await printSummary(ctx);
}

function isOurRunner(pid: number, name: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(RUNNER_MARKER) && cmdline.includes(name);
  } catch {
    return false;
  }
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
