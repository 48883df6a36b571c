import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, eventually, namespacesWithPrefix, readAll, trackConnections } from '@ambit/core/testing';
import { closeFd, connectFromNetns, getOriginalDst, listenInNetns, openNetns, socketFdOf, type SocketAddress } from './index.ts';

const MARK = 0x539;
const CAPTURE_PORT = 15001;
/** A dual-stack (`::`) listener: IPv4 clients arrive as ::ffff:a.b.c.d but are tracked by IPv4 conntrack. */
const DUAL_STACK_PORT = 15002;
const fx = createNetnsFixture();
let aFd = -1;
let bFd = -1;
const closers: (() => Promise<void>)[] = [];
/** Original destinations seen by the capture listeners in A, in accept order. */
const captured: SocketAddress[] = [];

// The pod-side rules DESIGN.md §4 describes, reduced to one port: A's outbound TCP to :9999 is redirected to the
// ztunnel listener on 15001, except ztunnel's own (marked) sockets.
const CAPTURE_RULES = (family: 'ip' | 'ip6'): string => `
table ${family} ambit_capture {
  chain out {
    type nat hook output priority -100;
    meta mark ${MARK} return
    tcp dport 9999 redirect to :${CAPTURE_PORT}
    tcp dport 9998 redirect to :${DUAL_STACK_PORT}
  }
}`;

function serve(server: net.Server, onConnection: (socket: net.Socket) => void): void {
  server.on('connection', onConnection);
  closers.push(trackConnections(server).close);
}

before(() => {
  if (process.getuid?.() !== 0) return;
  fx.add('a');
  fx.add('b');
  fx.link('a', '10.250.0.1/24', 'b', '10.250.0.2/24');
  // nodad: usable at once, without waiting for duplicate address detection.
  fx.exec('a', ['ip', 'addr', 'add', 'fd00:250::1/64', 'dev', 'v-b', 'nodad']);
  fx.exec('b', ['ip', 'addr', 'add', 'fd00:250::2/64', 'dev', 'v-a', 'nodad']);
  fx.exec('a', ['nft', '-f', '-'], CAPTURE_RULES('ip') + CAPTURE_RULES('ip6'));
  aFd = openNetns(fx.path('a'));
  bFd = openNetns(fx.path('b'));

  const capture = (socket: net.Socket): void => {
    captured.push(getOriginalDst(socketFdOf(socket)));
    socket.end('captured');
  };
  serve(listenInNetns(aFd, { host: '0.0.0.0', port: CAPTURE_PORT }), capture);
  serve(listenInNetns(aFd, { host: '::1', port: CAPTURE_PORT }), capture);
  serve(listenInNetns(aFd, { host: '::', port: DUAL_STACK_PORT }), capture);
  serve(listenInNetns(bFd, { host: '10.250.0.2', port: 9999 }), (socket) => socket.end('direct'));
});

after(async () => {
  for (const close of closers) await close();
  if (aFd >= 0) closeFd(aFd);
  if (bFd >= 0) closeFd(bFd);
  fx.cleanup();
  if (process.getuid?.() === 0) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

test('SO_ORIGINAL_DST gives the destination an app in A dialled before the redirect', async (t) => {
  if (!canRunNetnsTests(t)) return;
  captured.length = 0;
  const nc = await fx.run('a', ['nc', '-N', '-w', '3', '10.250.0.2', '9999'], 'hello\n');
  assert.equal(nc.code, 0, nc.stderr);
  assert.equal(nc.stdout, 'captured');
  await eventually(() => assert.deepEqual(captured, [{ address: '10.250.0.2', port: 9999, family: 4 }]));
});

test('IPv6: IP6T_SO_ORIGINAL_DST gives the original destination', async (t) => {
  if (!canRunNetnsTests(t)) return;
  captured.length = 0;
  const nc = await fx.run('a', ['nc', '-6', '-N', '-w', '3', 'fd00:250::2', '9999'], 'hello\n');
  assert.equal(nc.code, 0, nc.stderr);
  assert.equal(nc.stdout, 'captured');
  await eventually(() => assert.deepEqual(captured, [{ address: 'fd00:250::2', port: 9999, family: 6 }]));
});

test('an IPv4 connection accepted on a dual-stack listener reports its IPv4 original destination', async (t) => {
  if (!canRunNetnsTests(t)) return;
  captured.length = 0;
  const nc = await fx.run('a', ['nc', '-N', '-w', '3', '10.250.0.2', '9998'], 'hello\n');
  assert.equal(nc.code, 0, nc.stderr);
  assert.equal(nc.stdout, 'captured');
  await eventually(() => assert.deepEqual(captured, [{ address: '10.250.0.2', port: 9998, family: 4 }]));
});

test("the addon's sockets obey A's rules: unmarked ones are captured, marked ones (0x539) go through", async (t) => {
  if (!canRunNetnsTests(t)) return;
  captured.length = 0;
  const unmarked = await connectFromNetns(aFd, { host: '10.250.0.2', port: 9999 });
  unmarked.end();
  assert.equal(await readAll(unmarked), 'captured');
  await eventually(() => assert.deepEqual(captured, [{ address: '10.250.0.2', port: 9999, family: 4 }]));

  const marked = await connectFromNetns(aFd, { host: '10.250.0.2', port: 9999, mark: MARK });
  marked.end();
  assert.equal(await readAll(marked), 'direct');
  unmarked.destroy();
  marked.destroy();
});
