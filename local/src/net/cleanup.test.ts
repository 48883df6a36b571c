import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { cleanupLeftovers, listNetnsWithPrefix } from './cleanup.ts';
import { addNetns, pidsIn } from './netns.ts';
import { assertNothingLeft, needsNetwork, tempDir, testPrefix } from '../../testing/network.ts';
import { createTopology } from './topology.ts';
import { createPodSandbox } from './pod-sandbox.ts';

/** A process we start and must see die; killed by its own PID after the test whatever happens. */
function track(t: TestContext, child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return exited;
}

test('cleanupLeftovers removes what a killed run left: runner, namespaces, processes inside, /etc/netns, state', async (t) => {
  if (!needsNetwork(t, ['/usr/bin/sleep'])) return;
  const name = `tcln${process.pid}`;
  const prefix = `ambit-${name}-`;
  const stateDir = await tempDir(t, 'cln');
  const log = silentLogger();
  t.after(() => cleanupLeftovers({ prefix, stateDir, log }));

  // A "killed" run: a topology with a pod, a process in the pod and one in a node, and a runner process.
  const topology = await createTopology({ prefix, nodes: 2, stateDir, log });
  const [node1] = topology.nodes;
  assert.ok(node1);
  const pod = await createPodSandbox(topology, node1, { uid: 'leftover-0000', namespace: 'demo', name: 'left' }, log);
  const podProc = spawn('ip', ['netns', 'exec', pod.netns, 'sleep', '1000'], { stdio: 'ignore', detached: true });
  const nodeProc = spawn('ip', ['netns', 'exec', node1.netns, 'sleep', '1000'], { stdio: 'ignore', detached: true });
  // The runner: a process whose command line holds the marker and the cluster name.
  const runner = spawn('python3', ['-c', 'import time; time.sleep(1000)', 'ambit-local-runner', '--name', name], {
    stdio: 'ignore',
    detached: true,
  });
  const gone = [track(t, podProc), track(t, nodeProc), track(t, runner)];
  await eventually(async () => assert.deepEqual(await pidsIn(pod.netns), [podProc.pid]));
  await eventually(async () => assert.ok((await pidsIn(node1.netns)).includes(nodeProc.pid ?? -1), 'node process not in place yet'));
  await writeFile(join(stateDir, 'runner.pid'), `${String(runner.pid)}\n`);
  await mkdir(join(stateDir, 'store'));
  await writeFile(join(stateDir, 'store', 'objects.json'), '{}');
  await writeFile(join(stateDir, 'kubeconfig'), 'x');
  assert.ok(existsSync(pod.etcDir));

  const report = await cleanupLeftovers({ prefix, stateDir, log, keep: ['store'] });
  assert.equal(report.runnerKilled, runner.pid);
  assert.deepEqual(
    [...report.namespaces].sort(),
    [`${prefix}driver`, `${prefix}node1`, `${prefix}node2`, pod.netns, `${prefix}world`].sort(),
  );
  assert.deepEqual([...report.killedPids].sort(), [podProc.pid, nodeProc.pid].sort());
  await Promise.all(gone);
  assert.equal(podProc.signalCode, 'SIGKILL');
  assert.equal(runner.signalCode, 'SIGKILL');
  await assertNothingLeft(prefix);
  assert.deepEqual(await readdir(stateDir), ['store'], 'everything but what the caller keeps is removed');

  // Nothing left: a second run is a no-op.
  const again = await cleanupLeftovers({ prefix, stateDir, log });
  assert.deepEqual(again, { runnerKilled: undefined, namespaces: [], killedPids: [] });
});

test('cleanupLeftovers leaves alone a runner.pid process that is not our runner, and copes with nothing at all', async (t) => {
  if (!needsNetwork(t, ['/usr/bin/sleep'])) return;
  const prefix = testPrefix('clnnone');
  const stateDir = await tempDir(t, 'clnnone');
  const log = silentLogger();
  // Safe when nothing exists, not even the state dir.
  const none = await cleanupLeftovers({ prefix, stateDir: join(stateDir, 'missing'), log });
  assert.deepEqual(none, { runnerKilled: undefined, namespaces: [], killedPids: [] });

  // A live process without the marker (a PID reused since the runner died) must survive.
  const stranger = spawn('sleep', ['1000'], { stdio: 'ignore', detached: true });
  const gone = track(t, stranger);
  await writeFile(join(stateDir, 'runner.pid'), String(stranger.pid));
  await addNetns(`${prefix}node1`);
  const report = await cleanupLeftovers({ prefix, stateDir, log, clusterName: 'whatever' });
  assert.equal(report.runnerKilled, undefined);
  assert.equal(stranger.exitCode, null);
  assert.equal(stranger.signalCode, null);
  assert.deepEqual(await listNetnsWithPrefix(prefix), []);
  stranger.kill('SIGKILL');
  await gone;
});
