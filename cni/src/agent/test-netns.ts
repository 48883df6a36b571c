// Test fixture: throw-away network namespaces named `ambit-tcap<pid>-<short>` for the capture-rule tests. They are
// never linked to the host namespace (veth pairs are created inside test namespaces only, 10.251.x.x addresses live
// inside them, no host routes), and cleanup deletes exactly the namespaces and processes this fixture created.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { requirePrivileges } from '@ambit/core/testing';

export const NEEDED_EXECUTABLES = ['/usr/sbin/ip', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/socat', '/usr/bin/ss'] as const;

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CaptureNetnsFixture {
  /** `ambit-tcap<pid>-`: unique per test process. */
  readonly prefix: string;
  /** Creates `prefix + short` with loopback up; returns the full name. */
  add(short: string): string;
  /** Full name of a namespace this fixture created. */
  name(short: string): string;
  /** `/run/netns/<full name>`. */
  path(short: string): string;
  /** A veth pair between two fixture namespaces, `aCidr`/`bCidr` on the ends, both up. */
  link(a: string, aCidr: string, b: string, bCidr: string): void;
  /** Runs a command inside a fixture namespace; throws on a non-zero exit. */
  exec(short: string, command: readonly string[], input?: string): string;
  /** Same without blocking the event loop; resolves with the exit code instead of throwing. */
  run(short: string, command: readonly string[], input?: string): Promise<ExecResult>;
  /** Starts a long-running process inside a namespace (`ip netns exec` execs it, so its pid is the tool's). */
  spawn(short: string, command: readonly string[]): ChildProcess;
  /** Kills this fixture's processes (by their pids) and deletes its namespaces; safe to call twice. */
  cleanup(): Promise<void>;
}

export function canRunCaptureTests(t: TestContext): boolean {
  return requirePrivileges(t, { root: true, executables: [...NEEDED_EXECUTABLES] });
}

export function createCaptureNetnsFixture(): CaptureNetnsFixture {
  const prefix = `ambit-tcap${process.pid}-`;
  const created: string[] = [];
  const children: ChildProcess[] = [];
  const full = (short: string): string => {
    const name = prefix + short;
    if (!created.includes(name)) throw new Error(`BUG: namespace ${short} was not created by this fixture`);
    return name;
  };
  const inNs = (short: string, command: readonly string[]): string[] => ['netns', 'exec', full(short), ...command];

  return {
    prefix,
    add(short) {
      const name = prefix + short;
      execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
      created.push(name);
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
      return name;
    },
    name: full,
    path: (short) => `/run/netns/${full(short)}`,
    link(a, aCidr, b, bCidr) {
      const [na, nb] = [full(a), full(b)];
      // Both ends are created straight inside the test namespaces: nothing ever appears in the host namespace.
      execFileSync('ip', ['-n', na, 'link', 'add', `v-${b}`, 'type', 'veth', 'peer', 'name', `v-${a}`, 'netns', nb], { stdio: 'pipe' });
      execFileSync('ip', ['-n', na, 'addr', 'add', aCidr, 'dev', `v-${b}`], { stdio: 'pipe' });
      execFileSync('ip', ['-n', nb, 'addr', 'add', bCidr, 'dev', `v-${a}`], { stdio: 'pipe' });
      execFileSync('ip', ['-n', na, 'link', 'set', `v-${b}`, 'up'], { stdio: 'pipe' });
      execFileSync('ip', ['-n', nb, 'link', 'set', `v-${a}`, 'up'], { stdio: 'pipe' });
    },
    exec(short, command, input) {
      return execFileSync('ip', inNs(short, command), { encoding: 'utf8', stdio: 'pipe', ...(input !== undefined && { input }) });
    },
    run(short, command, input) {
      return new Promise((resolve) => {
        const child = execFile('ip', inNs(short, command), { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
          resolve({ code, stdout, stderr });
        });
        child.stdin?.end(input ?? '');
      });
    },
    spawn(short, command) {
      const child = spawn('ip', inNs(short, command), { stdio: 'ignore' });
      children.push(child);
      return child;
    },
    async cleanup() {
      for (const child of children.splice(0)) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }
      for (const name of created.splice(0)) {
        try {
          execFileSync('ip', ['netns', 'delete', name], { stdio: 'pipe' });
        } catch {
          // Already gone: nothing to undo. Anything else is caught by the test's leftover check.
        }
      }
    },
  };
}

/** Namespaces whose name starts with `prefix` (to prove cleanup). */
export function namespacesWithPrefix(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

/** `table <family> <name>` lines of `nft list tables`, sorted, in a fixture namespace or (no namespace) the host's. */
export function nftTables(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('table '))
    .sort();
}
