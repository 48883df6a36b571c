import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { silentLogger, type Logger } from '@ambit/core';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { runRaw, type RunResult } from '../src/net/exec.ts';
import { listNetnsWithPrefix } from '../src/net/netns.ts';
import { createTopology, destroyTopology, type Topology } from '../src/net/topology.ts';
import { startContainer, type ContainerHandle } from '../src/proc/supervisor.ts';

/**
 * Shared by the net and proc tests: a topology per test with guaranteed teardown, HTTP servers in pods, and curl
 * run inside namespaces (never from the test process: no socket of the host namespace may reach cluster addresses).
 */

export const NET_TOOLS = [
  '/usr/sbin/ip',
  '/usr/sbin/nft',
  '/usr/lib/cni/bridge',
  '/usr/lib/cni/host-local',
  '/usr/lib/cni/loopback',
  '/usr/bin/curl',
  '/usr/bin/python3',
];

/** Skips (or under CI fails) unless root with the tools the network tests use. */
export function needsNetwork(t: TestContext, extra: readonly string[] = []): boolean {
  return requirePrivileges(t, { root: true, executables: [...NET_TOOLS, ...extra] });
}

/** A prefix unique to this test process and `tag`, e.g. `ambit-tnet1234-`. */
export function testPrefix(tag: string): string {
  return `ambit-t${tag}${process.pid}-`;
}

export async function tempDir(t: TestContext, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `ambit-${tag}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Fails when anything named with `prefix` is left: namespaces or /etc/netns dirs. */
export async function assertNothingLeft(prefix: string): Promise<void> {
  assert.deepEqual(await listNetnsWithPrefix(prefix), [], `namespaces left with prefix ${prefix}`);
  const etc = existsSync('/etc/netns') ? (await readdir('/etc/netns')).filter((e) => e.startsWith(prefix)) : [];
  assert.deepEqual(etc, [], `/etc/netns dirs left with prefix ${prefix}`);
}

export interface TopologyFixture {
  readonly topology: Topology;
  readonly stateDir: string;
  readonly log: Logger;
}

/** A topology torn down after the test (even a failed one), then checked for leftovers. */
export async function withTopology(
  t: TestContext,
  tag: string,
  nodes: number,
  cniBinDirs: readonly string[] = [],
  opts: { readonly nodeFiles?: boolean } = {},
): Promise<TopologyFixture> {
  const prefix = testPrefix(tag);
  const stateDir = await tempDir(t, tag);
  const log = silentLogger();
  const topology = await createTopology({ prefix, nodes, stateDir, log, cniBinDirs, ...(opts.nodeFiles === true && { nodeFiles: true }) });
  t.after(async () => {
    await destroyTopology(topology, log);
    await assertNothingLeft(prefix);
  });
  return { topology, stateDir, log };
}

/** curl inside `ns`; resolves with the outcome whatever the exit code. */
export function curlIn(ns: string, url: string, maxTimeS = 5): Promise<RunResult> {
  return runRaw(['ip', 'netns', 'exec', ns, 'curl', '-sS', '--max-time', String(maxTimeS), url]);
}

/**
 * An HTTP server in `netns` on `port` answering every path with `body` (python's http.server over a directory
 * holding `index.html`); ready when it answers inside its own namespace. Stopped after the test.
 */
export async function startHttpServer(
  t: TestContext,
  netns: string,
  body: string,
  port = 8080,
): Promise<{ handle: ContainerHandle; logFile: string }> {
  const dir = await tempDir(t, 'www');
  await writeFile(join(dir, 'index.html'), body);
  const logFile = join(dir, 'server.log');
  const handle = startContainer({
    netns,
    name: 'http',
    command: ['python3', '-m', 'http.server', String(port), '--bind', '0.0.0.0'],
    env: { PYTHONUNBUFFERED: '1' },
    cwd: dir,
    logFile,
    restartPolicy: 'Never',
    log: silentLogger(),
  });
  t.after(() => handle.stop(2000));
  await eventually(async () => {
    const r = await curlIn(netns, `http://127.0.0.1:${port}/`, 1);
    assert.equal(r.stdout, body);
  }, 10_000);
  return { handle, logFile };
}
