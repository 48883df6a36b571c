import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hasCode } from '../errors.ts';
import { eventually } from '../../testing/eventually.ts';
import { openSockets, pendingTimers } from '../../testing/sockets.ts';
import { HboneError } from './errors.ts';
import { createTestPki, idOf, readAll, startHarness, type Harness } from '../../testing/hbone-harness.ts';

let h: Harness;
let baseline: { sockets: number; timers: number };
let lastAuthz: unknown;

before(async () => {
  baseline = { sockets: openSockets(), timers: pendingTimers() };
  h = await startHarness({
    server: {
      // Port 9 (discard) stands for a port that policy denies.
      authorize: (req) => {
        lastAuthz = req;
        return req.dstAddr.port === 9 ? { allow: false, status: 401, reason: 'denied by test policy' } : { allow: true };
      },
    },
  });
});

after(async () => {
  await h.close();
  await eventually(() => {
    assert.equal(openSockets(), baseline.sockets, 'leaked sockets');
    assert.ok(pendingTimers() <= baseline.timers, 'leaked timers');
  }, 3000);
});

function rejectsWith(code: string, status?: number): (err: unknown) => boolean {
  return (err) => {
    assert.ok(hasCode(err, code), `want ${code}, got ${String(err)} (${(err as { code?: string }).code})`);
    if (status !== undefined) assert.equal((err as HboneError).status, status);
    return true;
  };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('a server presenting an unexpected identity is refused', async () => {
  await assert.rejects(h.open(h.upstreams.echo, { dstIdentities: [idOf('someone-else')] }), rejectsWith('PEER_IDENTITY_MISMATCH'));
  // The failed session is not kept in the pool.
  await eventually(() => assert.equal(h.pool.stats().sessions, 0));
});

test('a client certificate from another CA is refused (TLS 1.3: handshake completes, then the socket closes)', async () => {
  const other = await startHarness({ clientPki: await createTestPki('Some Other Root') });
  try {
    await assert.rejects(other.open(other.upstreams.echo), rejectsWith('HBONE_CONNECT_FAILED'));
    assert.equal(other.records.length, 0);
    await eventually(() => assert.equal(other.pool.stats().sessions, 0));
  } finally {
    await other.close();
  }
});

test('authority IP other than the local address → 400', async () => {
  await assert.rejects(h.open(h.upstreams.echo, { authority: `127.0.0.2:${h.upstreams.echo}` }), rejectsWith('HBONE_BAD_REQUEST', 400));
});

test('authority that is not ip:port → 400', async () => {
  await assert.rejects(
    h.open(h.upstreams.echo, { authority: `echo.default.svc:${h.upstreams.echo}` }),
    rejectsWith('HBONE_BAD_REQUEST', 400),
  );
});

test('illegal target port → 400', async () => {
  for (const port of [15001, 15006, 15008]) {
    await assert.rejects(h.open(port), rejectsWith('HBONE_BAD_REQUEST', 400));
  }
});

test('authorization denies → 401, open rejects with POLICY_DENIED; authorize saw the peer identity', async () => {
  await assert.rejects(h.open(9), rejectsWith('POLICY_DENIED', 401));
  assert.deepEqual(lastAuthz, {
    peerIdentity: h.clientId,
    srcAddr: (lastAuthz as { srcAddr: unknown }).srcAddr,
    dstAddr: { host: '127.0.0.1', port: 9 },
    localAddr: '127.0.0.1',
  });
  const rec = await eventually(() => {
    const r = h.records.find((x) => x.status === 401);
    assert.ok(r);
    return r;
  });
  assert.equal(rec.reason, 'denied by test policy');
});

test('upstream connection refused → 503 UPSTREAM_UNAVAILABLE', async () => {
  await assert.rejects(h.open(await closedPort()), rejectsWith('UPSTREAM_UNAVAILABLE', 503));
});

test('HBONE listener unreachable → HBONE_CONNECT_FAILED', async () => {
  const port = await closedPort();
  await assert.rejects(
    h.pool.open({ srcIdentity: h.clientId, dstIdentities: [h.serverId], nextHop: { host: '127.0.0.1', port }, authority: '127.0.0.1:80' }),
    rejectsWith('HBONE_CONNECT_FAILED'),
  );
});

test('the session survives refusals: a good tunnel still works after them', async () => {
  const t = await h.open(h.upstreams.echo);
  const done = readAll(t);
  t.end(Buffer.from('still here'));
  assert.equal((await done).toString(), 'still here');
});

// Minimal HTTP/2 framing (RFC 9113 §4.1) and HPACK literals (RFC 7541 §6.2.2), to send what Node's client refuses to.
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

test('CONNECT with :path is reset by nghttp2 (PROTOCOL_ERROR) without harming the server', async () => {
  const cert = await h.pki.leaf(h.clientId);
  const raw = netConnect({ host: '127.0.0.1', port: h.hbone.port });
  const tls = tlsConnect({
    socket: raw,
    key: cert.key,
    cert: cert.certChain.join('\n'),
    ca: [h.pki.rootPem],
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  const block = Buffer.concat([
    literal(':method', 'CONNECT'),
    literal(':authority', `127.0.0.1:${h.upstreams.echo}`),
    literal(':path', '/'),
  ]);
  // Preface, empty SETTINGS, then HEADERS (END_HEADERS) on stream 1.
  tls.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0, Buffer.alloc(0)), frame(0x1, 0x4, 1, block)]));
  const rst = await new Promise<{ streamId: number; code: number }>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    tls.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 0x3) resolve({ streamId, code: payload.readUInt32BE(0) });
        if (type === 0x7) reject(new Error(`GOAWAY ${payload.readUInt32BE(4)}`));
      }
    });
    tls.once('close', () => reject(new Error('closed without RST_STREAM')));
  });
  assert.deepEqual(rst, { streamId: 1, code: 0x1 });
  tls.destroy();
  // The handler never saw it (no record), and the server still serves.
  assert.ok(!h.records.some((r) => r.meta === undefined && r.status === 0));
  const t = await h.open(h.upstreams.echo);
  const done = readAll(t);
  t.end(Buffer.from('ok'));
  assert.equal((await done).toString(), 'ok');
});

test('HboneError carries status and code', () => {
  const e = new HboneError('POLICY_DENIED', 'x', { status: 401 });
  assert.equal(e.status, 401);
  assert.equal(e.code, 'POLICY_DENIED');
});
