// Test fixture: throw-away network namespaces named `ambit-tza<pid>-<short>`. They are never linked to the host
// namespace (veth pairs are created between two test namespaces only, addresses live inside them, no host routes)
// and cleanup deletes exactly the namespaces this fixture created.
import { execFile, execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import type net from 'node:net';
import type { TestContext } from 'node:test';
import { requirePrivileges } from './privileges.ts';

export const NETNS_EXECUTABLES = ['/usr/sbin/ip', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/ss'] as const;

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface NetnsFixture {
  /** `ambit-tza<pid>-`: unique per test process. */
  readonly prefix: string;
  /** Creates `prefix + short` with loopback up; returns the full name. */
  add(short: string): string;
  /** Full name of a namespace this fixture created. */
  name(short: string): string;
  /** A veth pair between two fixture namespaces, `address` (CIDR) on each end, both ends up. */
  link(a: string, aCidr: string, b: string, bCidr: string): void;
  /** Runs a command inside a fixture namespace and returns stdout; throws on a non-zero exit. */
  exec(short: string, command: readonly string[], input?: string): string;
  /** Same, without blocking the event loop, and resolving with the exit code instead of throwing. */
  run(short: string, command: readonly string[], input?: string): Promise<ExecResult>;
  /** `/run/netns/<full name>`. */
  path(short: string): string;
  /** Deletes every namespace this fixture created; safe to call twice. */
  cleanup(): void;
}

/** True when the machine can run these tests; otherwise the test is skipped (or failed under CI). */
export function canRunNetnsTests(t: TestContext): boolean {
  return requirePrivileges(t, { root: true, executables: [...NETNS_EXECUTABLES] });
}

/** `tag` keeps the prefixes of different test files apart (`ambit-<tag><pid>-`); default `tza`. */
export function createNetnsFixture(tag = 'tza'): NetnsFixture {
  const prefix = `ambit-${tag}${process.pid}-`;
  const created: string[] = [];
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
        if (input !== undefined) child.stdin?.end(input);
        else child.stdin?.end();
      });
    },
    path(short) {
      return `/run/netns/${full(short)}`;
    },
    cleanup() {
      for (const name of created.splice(0)) {
        try {
          execFileSync('ip', ['netns', 'delete', name], { stdio: 'pipe' });
        } catch {
          // Already gone: nothing to undo. Any other failure leaves it for zz-leftovers to report.
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

/** The calling thread's network namespace (`net:[inode]`). On the main JS thread this is the thread the addon runs on. */
export function threadNetns(): string {
  return readlinkSync('/proc/thread-self/ns/net');
}

/** A server that remembers its connections so a test can close it without waiting for peers. */
export function trackConnections(server: net.Server): { readonly sockets: net.Socket[]; close(): Promise<void> } {
  const sockets: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  return {
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (!server.listening) resolve();
        else server.close(() => resolve());
      }),
  };
}

/** Reads a socket to its end. */
export function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}
