import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { WAYPOINT_ID, type SeenRequest } from '../../testing/fixture.ts';
import { H2_VIP, startH2Scenario, type H2Scenario } from '../../testing/h2-backend.ts';

// Bad HTTP/2 input from an independent implementation: Python's h2 (Debian python3-h2) as the peer, speaking HBONE
// (mTLS with a mesh certificate, CONNECT) and h2c inside a tunnel (waypoint/testing/h2-peer.py). Debian's interpreter
// by path: it is the one with the h2 module (scripts/debian-packages.txt).
const PYTHON = '/usr/bin/python3';
const PEER = fileURLToPath(new URL('../../testing/h2-peer.py', import.meta.url));
const AUTHORITY = `${H2_VIP.declared}:8080`;

let sc: H2Scenario;
let dir: string;
let files: { cert: string; key: string; ca: string };
before(async () => {
  sc = await startH2Scenario();
  dir = mkdtempSync(join(tmpdir(), 'ambit-h2peer-'));
  files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, sc.fx.clientCert.certChain.join('\n'));
  writeFileSync(files.key, sc.fx.clientCert.key);
  writeFileSync(files.ca, sc.fx.rootPem);
});
after(async () => {
  await sc.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Peer {
  readonly child: ChildProcessWithoutNullStreams;
  /** The next JSON line the peer prints (progress events, then its result). */
  next(): Promise<Record<string, unknown>>;
}

function startPeer(mode: string, settings: Record<string, unknown>): Peer {
  const config = { port: sc.fx.listener.address().port, expect_id: WAYPOINT_ID, authority: AUTHORITY, ...files, ...settings };
  const child = spawn(PYTHON, [PEER, mode, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`h2 peer exited (${String(code)}) before its result: ${stderr}`))),
  );
  exited.catch(() => undefined);
  return {
    child,
    async next() {
      const line = await Promise.race([lines.next(), exited]);
      assert.ok(line.done !== true, `h2 peer printed nothing more: ${stderr}`);
      return JSON.parse(String(line.value)) as Record<string, unknown>;
    },
  };
}

async function goodRequestMeanwhile(): Promise<void> {
  const s = await sc.session();
  const req = s.request({ ':method': 'GET', ':path': '/meanwhile' });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  const status = await new Promise<unknown>((resolve, reject) => {
    req.once('response', (h) => resolve(h[':status']));
    req.once('error', reject);
  });
  await new Promise<void>((resolve) => req.once('end', resolve));
  assert.equal(status, 200);
  assert.equal((JSON.parse(Buffer.concat(chunks).toString()) as SeenRequest).url, '/meanwhile');
  s.close();
}

test('1 000 h2c streams in one tunnel, sent past the limit before the SETTINGS were read: 100 served, 900 REFUSED_STREAM', async () => {
  const peer = startPeer('h2c-flood', { count: 1000, path: '/sleep?ms=1000', after_ack: false });
  assert.deepEqual(await peer.next(), { event: 'sent' });
  // While the 100 admitted streams wait on the backend, another connection is served.
  await goodRequestMeanwhile();
  assert.deepEqual(await peer.next(), {
    maxConcurrentStreams: 100,
    served: 100,
    refused: 900,
    resetCodes: [7],
    // Each response ended with its last DATA frame: no trailers frame, empty or not, for a backend that sent none.
    trailers: 0,
    bodies: ['slept'],
    goaway: null,
    hboneGoaway: null,
  });
  assert.ok(sc.backend.streams.max <= 101, `backend saw ${sc.backend.streams.max} streams at once`);
});

test('1 000 h2c streams past an acknowledged limit: nghttp2 ends that h2c connection only (GOAWAY PROTOCOL_ERROR)', async () => {
  // RFC 9113 §5.1.2 asks for a stream error here; nghttp2 (Node's and Envoy's HTTP/2 library) makes it a connection
  // error. The damage stays inside the offending client's own connection (its tunnel): the HBONE connection carrying
  // it, its other tunnels and other connections are unaffected.
  const peer = startPeer('h2c-flood', { count: 1000, path: '/sleep?ms=200', after_ack: true });
  assert.deepEqual(await peer.next(), { event: 'sent' });
  await goodRequestMeanwhile();
  const result = await peer.next();
  assert.equal(result['goaway'], 1, 'GOAWAY PROTOCOL_ERROR on the inner h2c connection');
  assert.equal(result['maxConcurrentStreams'], 100);
  assert.equal(result['hboneGoaway'], null, 'the HBONE connection survives and opens another tunnel');
});

test('1 000 CONNECT streams on one HBONE connection: bounded by its advertised limit, the rest REFUSED_STREAM', async () => {
  const peer = startPeer('connect-flood', { count: 1000 });
  assert.deepEqual(await peer.next(), { event: 'sent' });
  const held = await peer.next();
  assert.equal(held['event'], 'held');
  assert.equal(held['accepted'], 100);
  // The tunnels are open at the waypoint (and no more than the limit), and another connection is served meanwhile.
  assert.ok((sc.fx.listener.stats()['tunnelsOpen'] ?? 0) >= 100 && (sc.fx.listener.stats()['tunnelsOpen'] ?? 0) <= 101);
  await goodRequestMeanwhile();
  peer.child.stdin.end('done\n');
  assert.deepEqual(await peer.next(), {
    maxConcurrentStreams: 100,
    accepted: 100,
    otherStatus: [],
    refused: 900,
    resetCodes: [7],
    goaway: null,
    heldOpen: true,
  });
});

test('an oversized header block gets that stream reset (ENHANCE_YOUR_CALM); the same connection serves the next request', async () => {
  // 20 fields of 4 KiB: over the HBONE listener's 64 KiB and the h2c server's 60 KiB header list limits, in 6 frames
  // (node-facts: more than ~8 CONTINUATION frames would make nghttp2 drop the whole session).
  const peer = startPeer('big-headers', { fields: 20 });
  assert.deepEqual(await peer.next(), {
    outerBig: 'reset 11',
    outerAfter: '200',
    outerGoaway: null,
    innerBefore: '200',
    innerBig: 'reset 11',
    innerAfter: '200',
    innerGoaway: null,
  });
  await goodRequestMeanwhile();
});
