// The agent's ZDS server against stand-in ztunnels: hello checks, snapshot replay, acks, errors, timeouts, and
// several ztunnels at once (a rolling update's old and new).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { hasCode } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { ZdsPod } from '@ambit/core/zds';
import type { EnrolledPod } from './agent-state.ts';
import { testLogger } from '../../testing/agent-harness.ts';
import { connectFakeZtunnel, summary, type FakeZtunnel } from '../../testing/fake-ztunnel.ts';
import { createZtunnelLink, type ZtunnelLink, type ZtunnelLinkOptions } from './ztunnel-link.ts';

const pod = (name: string): EnrolledPod => ({
  uid: `uid-${name}`,
  name,
  namespace: 'ns',
  serviceAccount: 'sa',
  netns: `/run/netns/${name}`,
  ips: ['10.0.0.1'],
  containerId: `sandbox-${name}`,
});

async function setUp(
  t: TestContext,
  extra: Partial<ZtunnelLinkOptions> = {},
): Promise<{ link: ZtunnelLink; socketPath: string; connectZt: typeof connectFakeZtunnel }> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-zl-'));
  const socketPath = join(dir, 'ztunnel.sock');
  const link = await createZtunnelLink({ socketPath, node: 'node1', snapshot: () => [], log: testLogger(), ackTimeoutMs: 300, ...extra });
  const clients: FakeZtunnel[] = [];
  t.after(async () => {
    for (const c of clients) await c.close();
    await link.close();
    await rm(dir, { recursive: true, force: true });
  });
  const connectZt: typeof connectFakeZtunnel = async (path, opts) => {
    const c = await connectFakeZtunnel(path, opts);
    clients.push(c);
    return c;
  };
  return { link, socketPath, connectZt };
}

const rejectsWith = (code: string) => (err: unknown) => {
  assert.ok(hasCode(err, code), `expected ${code}, got ${String(err)}`);
  return true;
};

test('before any ztunnel: not connected, and add/del reject with ZTUNNEL_NOT_CONNECTED', async (t) => {
  const { link } = await setUp(t);
  assert.equal(link.connected(), false);
  await assert.rejects(link.add(pod('a')), rejectsWith('ZTUNNEL_NOT_CONNECTED'));
  await assert.rejects(link.del('uid-a'), rejectsWith('ZTUNNEL_NOT_CONNECTED'));
});

test('hello replays the snapshot (exact ZDS fields), then snapshot-sent; onSynced once all are acked', async (t) => {
  let synced = 0;
  const { link, socketPath, connectZt } = await setUp(t, { snapshot: () => [pod('a'), pod('b')], onSynced: () => synced++ });
  const zt = await connectZt(socketPath);
  await zt.waitFor((m) => m.type === 'snapshot-sent');
  assert.deepEqual(summary(zt.messages), ['add ns/a', 'add ns/b', 'snapshot-sent']);
  const first = zt.messages[0];
  assert.ok(first?.type === 'add');
  assert.deepEqual(first.pod, { uid: 'uid-a', name: 'a', namespace: 'ns', serviceAccount: 'sa', netns: '/run/netns/a', ips: ['10.0.0.1'] });
  await eventually(() => assert.equal(synced, 1));
  assert.ok(link.connected());
  await link.add(pod('c'));
  await link.del('uid-a');
  assert.deepEqual(summary(zt.messages).slice(3), ['add ns/c', 'del uid-a']);
});

test('ack errors, missing acks and lost connections reject pending requests with their own codes', async (t) => {
  const { link, socketPath, connectZt } = await setUp(t);
  const zt = await connectZt(socketPath);
  await eventually(() => assert.ok(link.connected()));
  zt.reply = (m) => (m.type === 'add' ? { error: 'netns gone' } : 'ack');
  await assert.rejects(link.add(pod('a')), (err: unknown) => rejectsWith('ZTUNNEL_REJECTED')(err) && /netns gone/.test(String(err)));
  zt.reply = () => 'silent';
  await assert.rejects(link.add(pod('b')), (err: unknown) => rejectsWith('ZTUNNEL_ACK_TIMEOUT')(err) && /within 300 ms/.test(String(err)));
  zt.reply = () => 'silent';
  const pending = assert.rejects(link.add(pod('c')), rejectsWith('ZTUNNEL_DISCONNECTED'));
  await zt.waitFor((m) => m.type === 'add' && m.pod.name === 'c');
  await zt.close();
  await pending;
  await eventually(() => assert.equal(link.connected(), false));
});

test('a ztunnel for another node, or speaking another version, is refused', async (t) => {
  const { link, socketPath, connectZt } = await setUp(t, { snapshot: () => [pod('secret')] });
  for (const opts of [{ node: 'node2' }, { version: 99 }]) {
    const zt = await connectZt(socketPath, opts);
    await eventually(() => assert.ok(zt.closed(), JSON.stringify(opts)));
    assert.deepEqual(zt.messages, [], 'no pod is revealed to it');
    assert.equal(link.connected(), false);
  }
});

test('a stray connection is closed after the hello timeout and cuts nobody off', async (t) => {
  const { link, socketPath, connectZt } = await setUp(t, { helloTimeoutMs: 200 });
  const first = await connectZt(socketPath);
  await eventually(() => assert.ok(link.connected()));
  const stray = await connectZt(socketPath, { noHello: true });
  await eventually(() => assert.ok(stray.closed()));
  assert.equal(first.closed(), false, 'the stray connection did not cut the ztunnel off');
  assert.equal(link.connections(), 1);
  await link.add(pod('a'));
  assert.deepEqual(summary(first.messages), ['snapshot-sent', 'add ns/a']);
});

test('two ztunnels at once (rolling update): each gets the full snapshot and every later change; the old one leaving releases nothing', async (t) => {
  const held = [pod('a')];
  let synced = 0;
  const { link, socketPath, connectZt } = await setUp(t, { snapshot: () => held, onSynced: () => synced++ });
  const old = await connectZt(socketPath);
  await old.waitFor((m) => m.type === 'snapshot-sent');
  const next = await connectZt(socketPath);
  await next.waitFor((m) => m.type === 'snapshot-sent');
  assert.equal(old.closed(), false, 'the new ztunnel does not cut the old one off: it still drains');
  assert.equal(link.connections(), 2);
  assert.deepEqual(summary(next.messages), ['add ns/a', 'snapshot-sent']);
  await eventually(() => assert.equal(synced, 2));
  held.push(pod('b'));
  await link.add(pod('b'));
  await link.del('uid-a');
  for (const zt of [old, next]) assert.deepEqual(summary(zt.messages).slice(2), ['add ns/b', 'del uid-a']);
  // The old one refuses (it is shutting down): the pod is still served by the new one, so the add succeeds.
  old.reply = (m) => (m.type === 'add' ? { error: 'draining' } : 'ack');
  await link.add(pod('c'));
  await old.close();
  await eventually(() => assert.equal(link.connections(), 1));
  assert.ok(link.connected());
  await link.add(pod('d'));
  assert.deepEqual(summary(next.messages).slice(-2), ['add ns/c', 'add ns/d']);
  // Every ztunnel refusing is an error, with the newest one's reason.
  const third = await connectZt(socketPath);
  await third.waitFor((m) => m.type === 'snapshot-sent');
  next.reply = (m) => (m.type === 'add' ? { error: 'old reason' } : 'ack');
  third.reply = (m) => (m.type === 'add' ? { error: 'newest reason' } : 'ack');
  await assert.rejects(link.add(pod('e')), (err: unknown) => rejectsWith('ZTUNNEL_REJECTED')(err) && /newest reason/.test(String(err)));
});

test('a line that is not ZDS closes the connection', async (t) => {
  const { link, socketPath } = await setUp(t);
  const socket = connect(socketPath);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.resume(); // Read (and drop) what the agent sends, or its close is never seen.
  socket.write('{"type":"hello","version":1,"node":"node1"}\n{"type":"ack","id":"x"}\n');
  await closed;
  assert.equal(link.connected(), false);
});

test('a stale socket file is replaced; any other file at the path is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-zl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'ztunnel.sock');
  const opts = { socketPath, node: 'node1', snapshot: (): ZdsPod[] => [], log: testLogger() };
  // What a crashed agent leaves: a bound socket file nobody listens on (a process killed before it could unlink).
  spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.ok((await lstat(socketPath)).isSocket(), 'the leftover socket file exists');
  const link = await createZtunnelLink(opts);
  const zt = await connectFakeZtunnel(socketPath);
  await eventually(() => assert.ok(link.connected()));
  await zt.close();
  await link.close();
  await writeFile(socketPath, 'not a socket');
  await assert.rejects(createZtunnelLink(opts), (err: unknown) => hasCode(err, 'SOCKET_PATH_IN_USE'));
});
