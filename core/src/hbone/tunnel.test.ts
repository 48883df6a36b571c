import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { eventually } from '../../testing/eventually.ts';
import { openSockets, pendingTimers } from '../../testing/sockets.ts';
import { connectTcp, hashAll, patternChunk, readAll, startHarness, type Harness } from '../../testing/hbone-harness.ts';

const MB = 1024 * 1024;
let h: Harness;
let baseline: { sockets: number; timers: number };

before(async () => {
  baseline = { sockets: openSockets(), timers: pendingTimers() };
  h = await startHarness();
});

after(async () => {
  await h.close();
  await eventually(() => {
    assert.equal(openSockets(), baseline.sockets, 'leaked sockets');
    assert.ok(pendingTimers() <= baseline.timers, 'leaked timers');
  }, 3000);
});

function roundTrip(d: Duplex, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got < payload.length) return;
      d.off('data', onData);
      d.off('error', reject);
      resolve();
    };
    d.on('data', onData);
    d.once('error', reject);
    d.write(payload);
  });
}

test('echo through HBONE, with the request headers and peer identity recorded', async () => {
  const tunnel = await h.open(h.upstreams.echo, { forwardedFor: '10.1.2.3:4567' });
  tunnel.write(Buffer.from('hello '));
  tunnel.end(Buffer.from('mesh'));
  assert.equal((await readAll(tunnel)).toString(), 'hello mesh');
  const rec = await eventually(() => {
    const r = h.records.find((x) => x.authority === `127.0.0.1:${h.upstreams.echo}`);
    assert.ok(r);
    return r;
  });
  assert.equal(rec.status, 200);
  assert.equal(rec.bytesFromClient, 10);
  assert.equal(rec.bytesToClient, 10);
  assert.equal(rec.meta?.peerIdentity, h.clientId);
  assert.equal(rec.meta?.forwarded, 'for="10.1.2.3:4567"');
  assert.match(rec.meta?.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  assert.equal(rec.meta?.localAddr, '127.0.0.1');
});

test('string writes and empty chunks reach the peer intact (Node writev bug guard)', async () => {
  // The shape that corrupts unguarded Http2Streams: queued writes batched into one _writev holding heap strings and
  // empty chunks, as http's res.end(body) makes. Unguarded, most of these tunnels deliver garbage.
  for (let i = 0; i < 50; i += 1) {
    const tunnel = await h.open(h.upstreams.echo);
    const head = `GET /${i} HTTP/1.1\r\nhost: example-${i}\r\n\r\n`;
    const body = JSON.stringify({ i, data: 'd'.repeat(1000 + i) });
    const done = readAll(tunnel);
    tunnel.write(head);
    tunnel.write(body);
    tunnel.write('', 'latin1');
    tunnel.write(body, 'latin1');
    tunnel.end('');
    assert.equal((await done).toString(), head + body + body, `tunnel ${i}`);
  }
});

test('100 MB upload: SHA-256 equal on both ends', async () => {
  const total = 100 * MB;
  const tunnel = await h.open(h.upstreams.hash);
  const reply = readAll(tunnel);
  const sha = createHash('sha256');
  const started = performance.now();
  for (let i = 0, sent = 0; sent < total; i += 1) {
    const chunk = patternChunk(i, MB);
    sent += chunk.length;
    sha.update(chunk);
    if (!tunnel.write(chunk)) await new Promise((resolve) => tunnel.once('drain', resolve));
  }
  tunnel.end();
  const [bytes, digest] = (await reply).toString().split(' ');
  const secs = (performance.now() - started) / 1000;
  assert.equal(Number(bytes), total);
  assert.equal(digest, sha.digest('hex'));
  console.log(`# HBONE single-stream upload: ${(total / MB / secs).toFixed(0)} MB/s`);
});

test('100 MB download: SHA-256 equal on both ends', async () => {
  const total = 100 * MB;
  const tunnel = await h.open(h.upstreams.source);
  const started = performance.now();
  const got = hashAll(tunnel);
  tunnel.end(Buffer.from(`${total}\n`));
  const { bytes, sha256 } = await got;
  const secs = (performance.now() - started) / 1000;
  assert.equal(bytes, total);
  assert.equal(sha256, h.upstreams.sourceHashes.at(-1));
  console.log(`# HBONE single-stream download: ${(total / MB / secs).toFixed(0)} MB/s`);
});

test('a client that half-closes still receives the full reply', async () => {
  const tunnel = await h.open(h.upstreams.reverse);
  const payload = Buffer.alloc(4 * MB, 7);
  const reply = readAll(tunnel);
  tunnel.end(payload);
  const got = await reply;
  assert.equal(got.length, payload.length);
  assert.ok(got.equals(payload));
});

test('200 concurrent streams from one source to one destination use at most 2 TLS sessions', async () => {
  // Earlier tests' streams close a moment after their last byte: start from an idle pool.
  await eventually(() => assert.equal(h.pool.stats().streams, 0));
  const acceptedBefore = h.hbone.accepted;
  const tunnels = await Promise.all(Array.from({ length: 200 }, () => h.open(h.upstreams.echo)));
  assert.ok(h.pool.stats().sessions <= 2, `sessions: ${h.pool.stats().sessions}`);
  assert.equal(h.pool.stats().streams, 200);
  await Promise.all(
    tunnels.map(async (t, i) => {
      const done = readAll(t);
      t.end(Buffer.from(`stream ${i}`));
      assert.equal((await done).toString(), `stream ${i}`);
    }),
  );
  assert.ok(h.hbone.accepted - acceptedBefore <= 2, `new TLS connections: ${h.hbone.accepted - acceptedBefore}`);
  await eventually(() => assert.equal(h.pool.stats().streams, 0));
});

test('diagnostic: 1 KiB round-trip latency, HBONE vs direct TCP', async () => {
  const payload = Buffer.alloc(1024, 1);
  const rounds = 500;
  const measure = async (d: Duplex): Promise<{ p50: number; mean: number }> => {
    for (let i = 0; i < 50; i += 1) await roundTrip(d, payload); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      const t0 = performance.now();
      await roundTrip(d, payload);
      samples.push((performance.now() - t0) * 1000);
    }
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(rounds / 2)] ?? 0, mean: samples.reduce((a, b) => a + b, 0) / rounds };
  };
  const direct = await connectTcp('127.0.0.1', h.upstreams.echo);
  const tcp = await measure(direct);
  const directDone = readAll(direct);
  direct.end();
  await directDone;
  const tunnel = await h.open(h.upstreams.echo);
  const hbone = await measure(tunnel);
  const tunnelDone = readAll(tunnel);
  tunnel.end();
  await tunnelDone;
  console.log(
    `# 1 KiB round trip: direct TCP p50 ${tcp.p50.toFixed(0)} µs (mean ${tcp.mean.toFixed(0)}), ` +
      `HBONE p50 ${hbone.p50.toFixed(0)} µs (mean ${hbone.mean.toFixed(0)})`,
  );
  assert.ok(hbone.p50 > 0);
});
