import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createSecureServer, type ServerHttp2Session } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { silentLogger } from '../log.ts';
import { eventually } from '../../testing/eventually.ts';
import { openSockets, pendingTimers } from '../../testing/sockets.ts';
import { createHboneServer } from './server.ts';
import { connectTcp, readAll, startFreezableRelay, startHarness, TRUST_DOMAIN, type FreezableRelay } from '../../testing/hbone-harness.ts';

let baseline: { sockets: number; timers: number };

before(() => {
  baseline = { sockets: openSockets(), timers: pendingTimers() };
});

after(async () => {
  await eventually(() => {
    assert.equal(openSockets(), baseline.sockets, 'leaked sockets');
    assert.ok(pendingTimers() <= baseline.timers, 'leaked timers');
  }, 3000);
});

async function echoOnce(t: Duplex, text: string): Promise<void> {
  const done = readAll(t);
  t.end(Buffer.from(text));
  assert.equal((await done).toString(), text);
}

test('PING timeout tears down a dead session; the next open makes a new one', async () => {
  let relay: FreezableRelay | undefined;
  const h = await startHarness({
    pool: { pingIntervalMs: 100, pingTimeoutMs: 300 },
    server: { pingIntervalMs: 100, pingTimeoutMs: 300 },
    via: async (port) => {
      relay = await startFreezableRelay(port);
      return relay.port;
    },
  });
  assert.ok(relay);
  try {
    const t = await h.open(h.upstreams.echo);
    const failed = new Promise<Error>((resolve) => t.once('error', resolve));
    t.write(Buffer.from('x'));
    relay.freeze();
    t.write(Buffer.from('lost'));
    const err = await failed;
    assert.match(err.message, /PING/);
    await eventually(() => assert.deepEqual(h.pool.stats(), { sessions: 0, streams: 0 }));
    // The server's keep-alive ended its side too, and recorded the tunnel once.
    await eventually(() => assert.equal(h.records.length, 1));
    await echoOnce(await h.open(h.upstreams.echo), 'fresh session');
    assert.equal(relay.accepted, 2);
  } finally {
    await h.close();
    await relay.close();
  }
});

test('an idle client session is released after idleTimeoutMs', async () => {
  const h = await startHarness({ pool: { idleTimeoutMs: 150 } });
  try {
    await echoOnce(await h.open(h.upstreams.echo), 'a');
    assert.equal(h.pool.stats().sessions, 1);
    await eventually(() => assert.equal(h.pool.stats().sessions, 0));
    await eventually(() => assert.equal(h.hbone.open, 0));
    await echoOnce(await h.open(h.upstreams.echo), 'b');
    assert.equal(h.hbone.accepted, 2);
  } finally {
    await h.close();
  }
});

test('a session with a long-lived quiet tunnel is not idled out', async () => {
  const h = await startHarness({ pool: { idleTimeoutMs: 100 }, server: { idleTimeoutMs: 100 } });
  try {
    const t = await h.open(h.upstreams.echo);
    const done = readAll(t);
    t.write(Buffer.from('before '));
    // Several idle periods pass with the tunnel open and silent.
    await eventually(() => assert.ok(h.hbone.accepted === 1 && h.pool.stats().sessions === 1), 1000);
    await new Promise((resolve) => setTimeout(resolve, 350)); // deliberate: nothing to wait for, time must pass
    t.end(Buffer.from('after'));
    assert.equal((await done).toString(), 'before after');
  } finally {
    await h.close();
  }
});

test('the server closes sessions without streams after its idleTimeoutMs; the pool follows the GOAWAY', async () => {
  const h = await startHarness({ server: { idleTimeoutMs: 150 } });
  try {
    await echoOnce(await h.open(h.upstreams.echo), 'a');
    await eventually(() => assert.equal(h.pool.stats().sessions, 0));
    await eventually(() => assert.equal(h.hbone.open, 0));
  } finally {
    await h.close();
  }
});

test('GOAWAY: open tunnels finish on the old session, new ones go to a new session', async () => {
  const h = await startHarness();
  const next = createHboneServer({
    certFor: () => h.serverCert,
    roots: () => [h.pki.rootPem],
    trustDomain: TRUST_DOMAIN,
    connectUpstream: (target) => connectTcp(target.host, target.port),
    log: silentLogger(),
  });
  try {
    const old = await h.open(h.upstreams.echo);
    const oldDone = readAll(old);
    old.write(Buffer.from('one '));
    h.route = (s) => next.handle(s);
    const closing = h.server.close(5000);
    const fresh = await h.open(h.upstreams.echo);
    assert.equal(h.hbone.accepted, 2);
    await echoOnce(fresh, 'new session');
    old.end(Buffer.from('two'));
    assert.equal((await oldDone).toString(), 'one two');
    await closing;
  } finally {
    await h.close();
    await next.close();
  }
});

test('a client that never completes the TLS handshake is closed after handshakeTimeoutMs', async () => {
  const h = await startHarness({ server: { handshakeTimeoutMs: 200 } });
  try {
    // Plain TCP that never starts TLS: the TLS handshake deadline ends it.
    const s = await connectTcp('127.0.0.1', h.hbone.port);
    const ended = new Promise<void>((resolve) => s.once('end', () => resolve()));
    s.resume();
    await ended;
    s.destroy();
    await eventually(() => assert.equal(h.hbone.open, 0));
  } finally {
    await h.close();
  }
});

test('an unconnected socket from the factory (the in-namespace fd case) is connected by the pool', async () => {
  const hops: unknown[] = [];
  const h = await startHarness({
    pool: {
      connect: (hop, src) => {
        hops.push({ hop, src });
        return new Socket({ allowHalfOpen: true });
      },
    },
  });
  try {
    await echoOnce(await h.open(h.upstreams.echo), 'via an unconnected socket');
    assert.deepEqual(hops, [{ hop: h.nextHop, src: h.clientId }]);
  } finally {
    await h.close();
  }
});

test('a stream the peer refuses (REFUSED_STREAM: a draining ztunnel) retires its session; the retry opens a new one', async () => {
  const h = await startHarness();
  // The first connection meets a peer that refuses every stream, as a ztunnel past its GOAWAY does with streams it
  // will not process; later connections reach the real server (the old ztunnel stopped accepting, the new one took over).
  let refused = 0;
  const refusing = createSecureServer({
    key: h.serverCert.key,
    cert: h.serverCert.certChain.join('\n'),
    ca: [h.pki.rootPem],
    requestCert: true,
    ALPNProtocols: ['h2'],
  });
  refusing.on('stream', (stream) => {
    refused += 1;
    stream.on('error', () => {}); // closing with an error code also raises it on this end
    stream.close(constants.NGHTTP2_REFUSED_STREAM);
  });
  const sessions = new Set<ServerHttp2Session>();
  refusing.on('session', (s) => sessions.add(s));
  let connections = 0;
  h.route = (s) => {
    connections += 1;
    if (connections === 1) refusing.emit('connection', s);
    else h.server.handle(s);
  };
  try {
    await echoOnce(await h.open(h.upstreams.echo), 'after a refusal');
    assert.equal(refused, 1, 'the refusing session got no second stream');
    assert.equal(connections, 2, 'the retry went to a new session');
  } finally {
    for (const s of sessions) s.destroy();
    refusing.close();
    await h.close();
  }
});
