import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { ambitctl, ambitctlOk, fixtureCopy, pods, removeDir, run } from './helpers/ambitctl.ts';

const CLUSTER = 'it-seal';
const DRIVER_NS = `ambit-${CLUSTER}-driver`;
const CLUSTER_NETS = 'net 10.244.0.0/16 or net 172.28.0.0/24 or net 10.96.0.0/16';

let dir = '';
let hostLinksBefore = '';
let up = false;

async function hostLinks(): Promise<string> {
  const r = await run(['ip', '-o', 'link', 'show']);
  // Names only: counters and flags change on their own.
  return r.stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim() ?? '')
    .filter(Boolean)
    .sort()
    .join(',');
}

before(async () => {
  if (process.getuid?.() !== 0) return;
  dir = fixtureCopy('one-pod');
  hostLinksBefore = await hostLinks();
  const r = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '1'], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  up = true;
});

after(async () => {
  if (up) await ambitctl(CLUSTER, ['local', 'down']);
  if (dir !== '') removeDir(dir);
});

test('the cluster adds no interface to the host namespace', async (t) => {
  if (!requirePrivileges(t, { root: true }) || !up) return;
  assert.equal(await hostLinks(), hostLinksBefore);
});

test('from the driver namespace a pod IP fails at once with no route, and no packet reaches a host interface', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/bin/tcpdump', '/usr/bin/nc'] }) || !up) return;
  const [pod] = await pods(CLUSTER, 'default');
  assert.ok(pod);
  // The pod serves: reachable from inside the cluster (its node).
  const inside = await eventually(
    () => ambitctlOk(CLUSTER, ['local', 'node-exec', 'node1', '--', 'curl', '-sS', '--max-time', '5', `http://${pod.ip}:8080/`]),
    10_000,
  );
  assert.equal(inside, 'sealed\n');

  // tcpdump in the HOST namespace, on every host interface, for any cluster address.
  const dump = spawn('tcpdump', ['-i', 'any', '-n', '-l', '-p', CLUSTER_NETS], { stdio: ['ignore', 'pipe', 'pipe'] });
  let dumpErr = '';
  let dumpOut = '';
  dump.stderr.setEncoding('utf8').on('data', (d: string) => (dumpErr += d));
  dump.stdout.setEncoding('utf8').on('data', (d: string) => (dumpOut += d));
  await eventually(() => assert.match(dumpErr, /listening on/), 10_000);

  const links = await run(['ip', '-n', DRIVER_NS, '-o', 'link', 'show']);
  assert.deepEqual(
    links.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1]?.trim()),
    ['lo'],
    'the driver namespace has only loopback',
  );
  const nc = await run(['ip', 'netns', 'exec', DRIVER_NS, 'nc', '-z', '-v', '-w', '3', pod.ip, '8080']);
  assert.notEqual(nc.code, 0);
  assert.match(nc.stderr, /Network is unreachable/);
  assert.ok(nc.ms < 1500, `failed at once (${nc.ms} ms), not by timeout`);
  const curl = await run(['ip', 'netns', 'exec', DRIVER_NS, 'curl', '-sS', '--max-time', '3', `http://${pod.ip}:8080/`]);
  assert.equal(curl.code, 7, 'curl: could not connect');

  // Traffic inside the cluster while the capture runs must not show up on the host either.
  await ambitctlOk(CLUSTER, ['local', 'node-exec', 'node1', '--', 'curl', '-sS', '--max-time', '5', `http://${pod.ip}:8080/`]);
  dump.kill('SIGINT');
  await new Promise((resolve) => dump.once('close', resolve));
  assert.match(dumpErr, /\b0 packets captured/, dumpErr);
  assert.equal(dumpOut.trim(), '', 'tcpdump printed no packet');
});
