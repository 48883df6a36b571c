import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { requirePrivileges } from '@ambit/core/testing';
import { RUNNER_MARKER, clusterPaths } from '@ambit/local';
import { ambitctl, fixtureCopy, netnsWithPrefix, processesWith, removeDir, run } from './helpers/ambitctl.ts';

const CLUSTER = 'it-kill';
const paths = clusterPaths(CLUSTER);
const dir = fixtureCopy('one-pod');
after(async () => {
  await ambitctl(CLUSTER, ['local', 'down']);
  removeDir(dir);
});

function runnerPid(): number {
  return (JSON.parse(readFileSync(paths.runnerInfo, 'utf8')) as { pid: number }).pid;
}

async function podPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const ns of netnsWithPrefix(paths.prefix)) {
    const r = await run(['ip', 'netns', 'pids', ns]);
    pids.push(...r.stdout.split('\n').filter(Boolean).map(Number));
  }
  return pids;
}

/** Running, not merely a zombie waiting for init to reap it (a killed runner's orphans are reparented to init). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function assertClean(): void {
  assert.deepEqual(netnsWithPrefix(paths.prefix), [], 'no namespace left');
  assert.deepEqual(processesWith(RUNNER_MARKER, CLUSTER), [], 'no runner left');
  assert.deepEqual(processesWith('--to', paths.apiTlsSocket), [], 'no node API forwarder left');
  assert.equal(existsSync(paths.stateDir), false, 'no state dir left');
  const etc = existsSync('/etc/netns') ? readFileSync('/proc/self/mounts', 'utf8') : '';
  assert.equal(etc.includes(`/etc/netns/${paths.prefix}`), false, 'no /etc/netns mount left');
}

test('down removes namespaces, processes and state', async (t) => {
  if (!requirePrivileges(t, { root: true })) return;
  const first = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '1']);
  assert.equal(first.code, 0, first.stderr);
  const pids = await podPids();
  assert.ok(pids.length > 0, 'the pod runs in a namespace of the cluster');
  assert.equal(processesWith('--to', paths.apiTlsSocket).length, 1, "the node's API forwarder runs");
  await ambitctl(CLUSTER, ['local', 'down']);
  assertClean();
  for (const pid of pids) assert.equal(alive(pid), false, `pod process ${pid} stopped`);
});

test('after SIGKILL of the runner, leftovers stay until the next up removes them; down then leaves nothing', async (t) => {
  if (!requirePrivileges(t, { root: true })) return;
  t.after(() => ambitctl(CLUSTER, ['local', 'down']));
  const first = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '1']);
  assert.equal(first.code, 0, first.stderr);
  const runner = runnerPid();
  const pids = await podPids();
  process.kill(runner, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(netnsWithPrefix(paths.prefix).length > 0, 'a killed runner leaves its namespaces');
  assert.ok(pids.some(alive), 'and its pod processes');

  const again = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '1']);
  assert.equal(again.code, 0, again.stderr);
  for (const pid of pids) assert.equal(alive(pid), false, `stale pod process ${pid} was removed`);
  assert.notEqual(runnerPid(), runner);

  process.kill(runnerPid(), 'SIGKILL');
  await ambitctl(CLUSTER, ['local', 'down']);
  assertClean();
});

test('a bad manifest fails up with file:document:field and creates nothing', async (t) => {
  if (!requirePrivileges(t, { root: true })) return;
  const bad = fixtureCopy('malformed');
  t.after(() => removeDir(bad));
  const r = await ambitctl(CLUSTER, ['local', 'up', '-f', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /10-bad\.yaml:2:spec\.replicas: must be an integer/);
  assertClean();
});

test('a pod that never becomes ready fails up with a clear error and a clean host', async (t) => {
  if (!requirePrivileges(t, { root: true })) return;
  const broken = fixtureCopy('one-pod');
  t.after(() => removeDir(broken));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    `${broken}/pod.yaml`,
    'apiVersion: v1\nkind: Pod\nmetadata: {name: ghost}\nspec:\n  containers: [{name: c, command: [/nonexistent/program]}]\n',
  );
  const r = await ambitctl(CLUSTER, ['local', 'up', '-f', broken, '--nodes', '1', '--timeout', '4']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    // Ambit's own pods may still be starting 4 s in: the ghost is named among the late pods, with its reason.
    /did not come up: not ready after 4s: pods not ready: (.*; )?default\/ghost \(c: (StartError|CrashLoopBackOff): executable "\/nonexistent\/program" not found/,
  );
  assertClean();
});
