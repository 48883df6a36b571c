// Test fixture for the capture-rule tests: ztunnel's throw-away namespace fixture (prefix `ambit-tcap<pid>-`, never
// linked to the host namespace, cleanup deletes exactly what it created) plus long-running tools started inside the
// namespaces, which cleanup kills by their pids before the namespaces go.
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { requirePrivileges } from '@ambit/core/testing';
import { NEEDED_EXECUTABLES as BASE_EXECUTABLES, createNetnsFixture, type NetnsFixture } from '../../../ztunnel/src/native/netns-fixture.ts';

export { namespacesWithPrefix, type ExecResult } from '../../../ztunnel/src/native/netns-fixture.ts';

export const NEEDED_EXECUTABLES = [...BASE_EXECUTABLES, '/usr/bin/socat'] as const;

export interface CaptureNetnsFixture extends Omit<NetnsFixture, 'cleanup'> {
  /** Starts a long-running process inside a namespace (`ip netns exec` execs it, so its pid is the tool's). */
  spawn(short: string, command: readonly string[]): ChildProcess;
  /** Kills this fixture's processes (by their pids) and deletes its namespaces; safe to call twice. */
  cleanup(): Promise<void>;
}

export function canRunCaptureTests(t: TestContext): boolean {
  return requirePrivileges(t, { root: true, executables: [...NEEDED_EXECUTABLES] });
}

export function createCaptureNetnsFixture(): CaptureNetnsFixture {
  const base = createNetnsFixture('tcap');
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
