// Finding a running pod's network namespace by IP, in real namespaces: named ones with and without processes, an
// unnamed one held only by a process, IPv6, and an address held twice.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { hasCode } from '@ambit/core';
import { findNetnsByIp, findNetnsCandidates, ipv6sOfIfInet6, localIpv4s, normaliseIp } from './netns-finder.ts';
import { addPodNetns, podIp } from '../../testing/agent-harness.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix, waitUntilOwnNetns } from '../../testing/capture-netns.ts';

const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagent');
const loose: ChildProcess[] = [];
/** A per-process IPv6 prefix, for the same reason as podIp. */
const podIp6 = (n: number): string => `fd00:213:${(process.pid % 65000).toString(16)}::${n}`;

after(async () => {
  for (const child of loose) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
  await fx.cleanup();
  if (isRoot) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

test('fib_trie: only addresses with a "/32 host LOCAL" entry are local', () => {
  const trie = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.244.1.0/24 2 0 2
        |-- 10.244.1.0
           /24 link UNICAST
        |-- 10.244.1.7
           /32 host LOCAL
        |-- 10.244.1.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.0
           /8 host LOCAL
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 10.244.1.7
           /32 host LOCAL
`;
  assert.deepEqual([...localIpv4s(trie)].sort(), ['10.244.1.7', '127.0.0.1']);
});

test('IPv6 addresses compare in the if_inet6 form whatever their spelling', () => {
  const inet6 = 'fd000213000000000000000000000005 01 80 00 80       lo\n00000000000000000000000000000001 01 80 10 80       lo\n';
  assert.deepEqual([...ipv6sOfIfInet6(inet6)], ['fd000213000000000000000000000005', '00000000000000000000000000000001']);
  assert.equal(normaliseIp('fd00:213::5'), 'fd000213000000000000000000000005');
  assert.equal(normaliseIp('FD00:0213:0:0:0:0:0:5'), 'fd000213000000000000000000000005');
  assert.equal(normaliseIp('::1'), '00000000000000000000000000000001');
  assert.equal(normaliseIp('::ffff:10.0.0.1'), '00000000000000000000ffff0a000001');
  assert.equal(normaliseIp('10.0.0.1'), '10.0.0.1');
  assert.throws(
    () => normaliseIp('10.0.0.1/24'),
    (err: unknown) => hasCode(err, 'BAD_IP'),
  );
});

test('a named namespace with a process in it is found by its stable /run/netns path', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const path = addPodNetns(fx, 'withproc', podIp(41));
  fx.spawn('withproc', ['sleep', '600']);
  assert.equal(await findNetnsByIp(podIp(41)), path);
});

test('a named namespace no process is in is found too', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const path = addPodNetns(fx, 'noproc', podIp(42));
  assert.equal(await findNetnsByIp(podIp(42)), path);
});

test('IPv6: found through if_inet6 (with a process) and through ip addr (without)', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const withProc = addPodNetns(fx, 'v6proc', podIp(43));
  fx.exec('v6proc', ['ip', '-6', 'addr', 'add', `${podIp6(1)}/128`, 'dev', 'lo', 'nodad']);
  fx.spawn('v6proc', ['sleep', '600']);
  const bare = addPodNetns(fx, 'v6bare', podIp(44));
  fx.exec('v6bare', ['ip', '-6', 'addr', 'add', `${podIp6(2)}/128`, 'dev', 'lo', 'nodad']);
  assert.equal(await findNetnsByIp(podIp6(1)), withProc);
  assert.equal(await findNetnsByIp(podIp6(2).replace('::', ':0:0:0:0:')), bare, 'another spelling of the same address');
});

test('a namespace only a process holds is found as /proc/PID/ns/net', async (t) => {
  if (!canRunCaptureTests(t)) return;
  // unshare execs sleep in a fresh, unnamed namespace: the child's pid is the sleeper's.
  const sleeper = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  loose.push(sleeper);
  // Only once it is in its own namespace: before that the path is the host's, and the address would land there.
  const path = await waitUntilOwnNetns(sleeper.pid);
  spawnOk(['nsenter', `--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
  spawnOk(['nsenter', `--net=${path}`, 'ip', 'addr', 'add', `${podIp(45)}/32`, 'dev', 'lo']);
  assert.equal(await findNetnsByIp(podIp(45)), path);
});

test('an address no namespace holds is not found; one held by two namespaces is refused as ambiguous', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.equal(await findNetnsByIp(podIp(250)), undefined);
  const a = addPodNetns(fx, 'twin-a', podIp(46));
  const b = addPodNetns(fx, 'twin-b', podIp(46));
  assert.deepEqual(await findNetnsCandidates(podIp(46)), [a, b].sort());
  await assert.rejects(findNetnsByIp(podIp(46)), (err: unknown) => {
    assert.ok(hasCode(err, 'NETNS_AMBIGUOUS'));
    assert.match(String(err), new RegExp(`${a}.*${b}|${b}.*${a}`));
    return true;
  });
});

function spawnOk(argv: readonly string[]): void {
  execFileSync(argv[0] ?? '', argv.slice(1), { stdio: 'pipe' });
}
