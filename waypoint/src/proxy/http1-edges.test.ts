import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { rawExchange, type SeenRequest } from '../../testing/fixture.ts';
import { startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

let sc: Scenario;
const svc = `${VIP.svc}:80`;
before(async () => {
  sc = await startScenario({ headersTimeoutMs: 500 });
});
after(async () => {
  await sc.close();
});

async function goodRequestWorks(): Promise<void> {
  const res = await sc.client().request({ path: '/ok', method: 'GET', headers: { host: 'svc' } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
}

test('pipelined requests on one connection are answered in order', async () => {
  const out = await rawExchange(
    sc.fx,
    svc,
    'GET /a HTTP/1.1\r\nhost: svc\r\n\r\nGET /b HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
  );
  const urls = [...out.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(urls, ['/a', '/b']);
});

test('Expect: 100-continue gets 100 before the body is sent', async () => {
  const s = await sc.fx.open(svc);
  let got = '';
  const body = 'hello world';
  await new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('100 Continue') && !got.includes('sent')) {
        got += 'sent';
        s.write(body);
      }
      if (got.includes('"bodyBytes":11')) resolve();
    });
    s.once('error', reject);
    s.write(`POST /c HTTP/1.1\r\nhost: svc\r\nexpect: 100-continue\r\ncontent-length: ${body.length}\r\n\r\n`);
  });
  s.destroy();
});

test('chunked upload and large bodies stream both ways (20 MiB), hashes match', async () => {
  const size = 20 * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024, 3);
  const h = createHash('sha256');
  async function* upload(): AsyncGenerator<Buffer> {
    for (let sent = 0; sent < size; sent += chunk.length) {
      h.update(chunk);
      yield chunk;
    }
  }
  const client = sc.client();
  const res = await client.request({ path: '/up', method: 'PUT', headers: { host: 'svc' }, body: Readable.from(upload()) });
  const seen = (await res.body.json()) as SeenRequest;
  assert.equal(seen.bodyBytes, size);
  assert.equal(seen.sha256, h.digest('hex'));
  const down = await client.request({ path: `/download?bytes=${size}`, method: 'GET', headers: { host: 'svc' } });
  let n = 0;
  for await (const c of down.body) n += (c as Buffer).length;
  assert.equal(n, size);
  await eventually(() => assert.ok(sc.fx.records.some((r) => r.requestBytes === size)));
  assert.ok(sc.fx.records.some((r) => r.responseBytes === size));
});

test('Upgrade (WebSocket handshake) is passed through and then piped raw', async () => {
  const out = await rawExchange(
    sc.fx,
    svc,
    'GET /ws HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nping-bytes',
    /ping-bytes/,
  );
  assert.match(out, /^HTTP\/1\.1 101 /);
  const seen = [...sc.v1.seen, ...sc.v2.seen].find((r) => r.url === '/ws');
  assert.equal(seen?.headers['upgrade'], 'websocket');
  await eventually(() => assert.ok(sc.fx.records.some((r) => r.path === '/ws' && r.responseCode === 101)));
});

test('bad input: malformed request line → 400 and closed; other connections unaffected', async () => {
  const out = await rawExchange(sc.fx, svc, 'GARBAGE\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 400 /);
  await goodRequestWorks();
  await eventually(() => assert.ok(sc.fx.records.some((r) => r.responseFlags === 'DPE' && r.responseCode === 400)));
});

test('bad input: a header block over the limit → 431', async () => {
  const out = await rawExchange(sc.fx, svc, `GET / HTTP/1.1\r\nhost: svc\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.match(out, /^HTTP\/1\.1 431 /);
  await goodRequestWorks();
});

test('bad input: smuggling attempts (CL with TE, two different lengths) → 400', async () => {
  const te = await rawExchange(
    sc.fx,
    svc,
    'POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  assert.match(te, /^HTTP\/1\.1 400 /);
  const two = await rawExchange(sc.fx, svc, 'POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nabcde');
  assert.match(two, /^HTTP\/1\.1 400 /);
  await goodRequestWorks();
});

test('bad input: headers never finished → closed at the header timeout', async () => {
  const t0 = performance.now();
  const pending = rawExchange(sc.fx, svc, 'GET / HTTP/1.1\r\nhost: svc\r\nx-slow: 1\r\n');
  await goodRequestWorks();
  const out = await pending;
  const took = performance.now() - t0;
  assert.match(out, /^HTTP\/1\.1 408 /);
  assert.ok(took >= 450 && took < 2500, `closed after ${took} ms`);
});
