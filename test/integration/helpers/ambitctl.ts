import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterPaths } from '@ambit/local';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(REPO, 'cli', 'bin', 'ambitctl.js');

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command to completion with optional stdin; never throws on a non-zero exit. */
export function run(
  argv: readonly string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    // A command that exits without reading its stdin is not an error of the test.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** `ambitctl` against the named local cluster. */
export function ambitctl(cluster: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run([process.execPath, BIN, ...args], { ...opts, env: { AMBIT_CLUSTER: cluster } });
}

/** Like ambitctl, but fails with the command's output when it exits non-zero. */
export async function ambitctlOk(
  cluster: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await ambitctl(cluster, args, opts);
  if (r.code !== 0) throw new Error(`ambitctl ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A private copy of a fixture directory (tests edit it to exercise the live file watch). */
export function fixtureCopy(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ambit-${name}-`));
  cpSync(join(REPO, 'test', 'integration', 'fixtures', name), dir, { recursive: true });
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The end of a suite that brought a cluster up: `local down`, its directories removed, and not one of the cluster's
 * network namespaces, nor a node's API forwarder, left behind.
 */
export async function downAndCheckClean(cluster: string, ...dirs: string[]): Promise<void> {
  await ambitctl(cluster, ['local', 'down']);
  for (const d of dirs) removeDir(d);
  assert.deepEqual(netnsWithPrefix(`ambit-${cluster}-`), [], 'down removed every namespace');
  assert.deepEqual(processesWith('--to', clusterPaths(cluster).apiTlsSocket), [], 'down stopped every node API forwarder');
}

export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly ip: string;
  readonly phase: string;
  readonly ready: boolean;
}

/** The network namespace of a running pod (its sandbox), e.g. to start a client in it by PID. Throws when it has none. */
export async function podNetns(cluster: string, namespace: string, pod: string): Promise<string> {
  const r = await ambitctl(cluster, ['local', 'exec', '-n', namespace, pod, '--', 'ip', 'netns', 'identify']);
  const name = r.stdout.trim();
  if (!name.startsWith(`ambit-${cluster}-`))
    throw new Error(`pod ${namespace}/${pod} has no sandbox in cluster ${cluster}: ${r.stderr}${r.stdout}`);
  return name;
}

export async function pods(cluster: string, namespace?: string): Promise<PodInfo[]> {
  const args = ['local', 'get', 'pods', '-o', 'json', ...(namespace === undefined ? [] : ['-n', namespace])];
  return (JSON.parse(await ambitctlOk(cluster, args)) as { items: PodInfo[] }).items;
}

/** Network namespaces whose names start with `prefix`. */
export function netnsWithPrefix(prefix: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const mountPoint = line.split(' ')[1] ?? '';
    const m = /^\/run\/netns\/(.+)$/.exec(mountPoint);
    if (m?.[1]?.startsWith(prefix) === true) names.add(m[1]);
  }
  return [...names];
}

/** PIDs of live processes whose command line contains every one of `needles`. */
export function processesWith(...needles: string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSyncSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (needles.every((n) => cmd.split('\0').includes(n))) out.push(Number(entry));
  }
  return out;
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
