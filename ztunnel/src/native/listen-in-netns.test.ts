import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, eventually, namespacesWithPrefix, threadNetns, trackConnections } from '@ambit/core/testing';
import { closeFd, listenInNetns, openNetns } from './index.ts';

const fx = createNetnsFixture();
let aFd = -1;

before(() => {
  if (process.getuid?.() !== 0) return;
  fx.add('a');
  fx.add('c'); // isolated: loopback only, no route anywhere
  aFd = openNetns(fx.path('a'));
});

after(() => {
  if (aFd >= 0) closeFd(aFd);
  fx.cleanup();
  if (process.getuid?.() === 0) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

function listeners(port: number, short?: string): string[] {
  const cmd = ['ss', '-Hltn', `sport = :${port}`];
  const out = short === undefined ? execFileSync(cmd[0] ?? 'ss', cmd.slice(1), { encoding: 'utf8' }) : fx.exec(short, cmd);
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(/\s+/)[3] ?? '');
}

test('a listener made in namespace A listens in A, not in the host or in another namespace', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const home = threadNetns();
  const server = listenInNetns(aFd, { port: 0 });
  assert.equal(threadNetns(), home);
  const conns = trackConnections(server);
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const port = address.port;
    assert.ok(port > 0);

    assert.deepEqual(listeners(port, 'a'), [`0.0.0.0:${port}`]);
    assert.deepEqual(listeners(port), [], 'the host namespace has nothing on the port');

    const fromA = await fx.run('a', ['nc', '-z', '-w', '2', '127.0.0.1', String(port)]);
    assert.equal(fromA.code, 0, `nc from A: ${fromA.stderr}`);
    await eventually(() => assert.equal(conns.sockets.length, 1));

    const fromC = await fx.run('c', ['nc', '-z', '-w', '1', '127.0.0.1', String(port)]);
    assert.notEqual(fromC.code, 0, 'nothing listens on that port in namespace C');
  } finally {
    await conns.close();
  }
});

test('a port that is busy in the host namespace is free in A', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const hostServer = net.createServer();
  await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
  const address = hostServer.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    // In one namespace 0.0.0.0:P and 127.0.0.1:P conflict (EADDRINUSE); here they do not.
    const server = listenInNetns(aFd, { port: address.port });
    const conns = trackConnections(server);
    await conns.close();
  } finally {
    await new Promise<void>((resolve) => hostServer.close(() => resolve()));
  }
});

test('an IPv6 listener in A accepts on ::1 inside A', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const server = listenInNetns(aFd, { host: '::1', port: 0 });
  const conns = trackConnections(server);
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.equal(address.family, 'IPv6');
    const fromA = await fx.run('a', ['nc', '-6', '-z', '-w', '2', '::1', String(address.port)]);
    assert.equal(fromA.code, 0, `nc -6 from A: ${fromA.stderr}`);
    await eventually(() => assert.equal(conns.sockets.length, 1));
  } finally {
    await conns.close();
  }
});

test('reusePort lets two listeners share a port in A', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const first = listenInNetns(aFd, { port: 0, reusePort: true });
  const one = trackConnections(first);
  try {
    const address = first.address();
    assert.ok(address !== null && typeof address === 'object');
    const second = listenInNetns(aFd, { port: address.port, reusePort: true });
    await trackConnections(second).close();
  } finally {
    await one.close();
  }
});
