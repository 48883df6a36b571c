// Test fixture for the capture-rule and agent tests: core's throw-away namespace fixture (prefix
// `ambit-<tag><pid>-`, never linked to the host namespace, cleanup deletes exactly what it created) plus long-running
// tools started inside the namespaces, which cleanup kills by their pids before the namespaces go.
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { NETNS_EXECUTABLES, createNetnsFixture, eventually, requirePrivileges, type NetnsFixture } from '@ambit/core/testing';

export { namespacesWithPrefix, type ExecResult } from '@ambit/core/testing';

export const NEEDED_EXECUTABLES = [...NETNS_EXECUTABLES, '/usr/bin/socat', '/usr/bin/nsenter'] as const;

export interface CaptureNetnsFixture extends Omit<NetnsFixture, 'cleanup'> {
  /** Starts a long-running process inside a namespace (`ip netns exec` execs it, so its pid is the tool's). */
  spawn(short: string, command: readonly string[]): ChildProcess;
  /** Kills this fixture's processes (by their pids) and deletes its namespaces; safe to call twice. */
  cleanup(): Promise<void>;
}

export function canRunCaptureTests(t: TestContext): boolean {
  return requirePrivileges(t, { root: true, executables: [...NEEDED_EXECUTABLES] });
}

/** `tag` keeps the namespaces of different test files apart: `tcap` (capture rules), `tagent` (the agent). */
export function createCaptureNetnsFixture(tag = 'tcap'): CaptureNetnsFixture {
  const base = createNetnsFixture(tag);
  const children: ChildProcess[] = [];
  return {
    ...base,
    spawn(short, command) {
      const child = spawn('ip', ['netns', 'exec', base.name(short), ...command], { stdio: 'ignore' });
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
      base.cleanup();
    },
  };
}

/** `table <family> <name>` lines of `nft list tables`, sorted, in a fixture namespace or (no namespace) the host's. */
export function nftTables(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('table '))
    .sort();
}

/** A namespace's identity (nsfs device and inode), equal for `/proc/PID/ns/net` and its `/run/netns` bind mount. */
export function netnsId(path: string): string {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
}

/**
 * Waits until process `pid` is inside the namespace at `path`. `ip netns exec` and `unshare` enter it a moment after
 * spawn; until then `/proc/PID/ns/net` is the host's, and anything done through that path would hit the host.
 */
export async function waitUntilInNetns(pid: number | undefined, path: string): Promise<string> {
  assert.ok(pid !== undefined, 'BUG: the process has no pid (spawn failed)');
  const procPath = `/proc/${pid}/ns/net`;
  await eventually(() => assert.equal(netnsId(procPath), netnsId(path)));
  return procPath;
}

/** Waits until process `pid` has left this process's namespace (for `unshare --net`); returns `/proc/PID/ns/net`. */
export async function waitUntilOwnNetns(pid: number | undefined): Promise<string> {
  assert.ok(pid !== undefined, 'BUG: the process has no pid (spawn failed)');
  const procPath = `/proc/${pid}/ns/net`;
  await eventually(() => assert.notEqual(netnsId(procPath), netnsId('/proc/self/ns/net')));
  return procPath;
}
