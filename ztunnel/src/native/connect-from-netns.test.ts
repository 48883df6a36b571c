import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, namespacesWithPrefix, readAll, threadNetns, trackConnections } from '@ambit/core/testing';
import { closeFd, connectFromNetns, getMark, listenInNetns, openNetns, socketFdOf } from './index.ts';

const MARK = 0x539;
const fx = createNetnsFixture();
let aFd = -1;
let bFd = -1;

before(() => {
  if (process.getuid?.() !== 0) return;
  fx.add('a');
  fx.add('b');
  fx.link('a', '10.250.0.1/24', 'b', '10.250.0.2/24');
  aFd = openNetns(fx.path('a'));
  bFd = openNetns(fx.path('b'));
});

after(() => {
  if (aFd >= 0) closeFd(aFd);
  if (bFd >= 0) closeFd(bFd);
  fx.cleanup();
  if (process.getuid?.() === 0) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

/** An echo server in B: replies `echo:<everything received>` after the client's FIN. */
function echoServerInB(): { server: net.Server; port: number; peers: string[]; close(): Promise<void> } {
  const server = listenInNetns(bFd, { host: '10.250.0.2', port: 0 });
  const peers: string[] = [];
  server.on('connection', (socket: net.Socket) => {
    peers.push(`${socket.remoteAddress}:${socket.remotePort}`);
    void readAll(socket).then(
      (text) => socket.end(`echo:${text}`),
      () => socket.destroy(),
    );
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, peers, close: trackConnections(server).close };
}

test("a socket from namespace A reaches a server in B, from A's address, with its mark", async (t) => {
  if (!canRunNetnsTests(t)) return;
  const echo = echoServerInB();
  // Count marked packets at A's output hook: proof that the kernel sees the mark on A's traffic.
  fx.exec(
    'a',
    ['nft', '-f', '-'],
    `table ip ambit_mark {
    chain out {
      type filter hook output priority 0;
      meta mark ${MARK} tcp dport ${echo.port} counter
    }
  }`,
  );
  try {
    const home = threadNetns();
    const client = await connectFromNetns(aFd, { host: '10.250.0.2', port: echo.port, mark: MARK });
    assert.equal(threadNetns(), home);
    assert.equal(client.localAddress, '10.250.0.1');
    assert.equal(getMark(socketFdOf(client)), MARK);
    const localPort = client.localPort;
    const reply = readAll(client);
    client.end('ping');
    assert.equal(await reply, 'echo:ping');
    assert.deepEqual(echo.peers, [`10.250.0.1:${localPort}`]);

    const rules = fx.exec('a', ['nft', 'list', 'chain', 'ip', 'ambit_mark', 'out']);
    const packets = Number(/counter packets (\d+)/.exec(rules)?.[1] ?? '0');
    assert.ok(packets >= 3, `marked packets counted in A: ${packets}\n${rules}`);
    client.destroy();
  } finally {
    await echo.close();
    fx.exec('a', ['nft', 'delete', 'table', 'ip', 'ambit_mark']);
  }
});

test('localAddress binds the source address inside A', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const echo = echoServerInB();
  try {
    const client = await connectFromNetns(aFd, { host: '10.250.0.2', port: echo.port, localAddress: '10.250.0.1' });
    const localPort = client.localPort;
    const reply = readAll(client);
    client.end('x');
    assert.equal(await reply, 'echo:x');
    assert.deepEqual(echo.peers, [`10.250.0.1:${localPort}`]);
  } finally {
    await echo.close();
  }
});

test('a refused connection rejects with ECONNREFUSED', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const home = threadNetns();
  await assert.rejects(connectFromNetns(aFd, { host: '10.250.0.2', port: 1 }), { code: 'ECONNREFUSED' });
  assert.equal(threadNetns(), home);
});

test('connect() on a socket from connectFromNetns is refused (it would create a socket in the host namespace)', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const echo = echoServerInB();
  try {
    const client = await connectFromNetns(aFd, { host: '10.250.0.2', port: echo.port });
    assert.throws(() => client.connect(echo.port, '10.250.0.2'), /BUG: connect\(\)/);
    client.destroy();
  } finally {
    await echo.close();
  }
});
