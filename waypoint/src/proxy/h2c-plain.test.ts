import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { after, before, beforeEach, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import type { SeenRequest } from '../../testing/fixture.ts';
import { H2_VIP, startH2Scenario, type H2Scenario } from '../../testing/h2-backend.ts';

// Plain HTTP/2 cleartext (not gRPC) through the waypoint: a node:http2 client in a tunnel, an h2c backend behind it.
let sc: H2Scenario;
before(async () => {
  sc = await startH2Scenario();
});
after(async () => {
  await sc.close();
});
beforeEach(() => {
  sc.fx.records.length = 0;
});

interface H2Result {
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly body: Buffer;
}

/** One request; `body` is written as given (a function streams it). */
async function exchange(
  s: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer | ((w: NodeJS.WritableStream) => void),
): Promise<H2Result> {
  const req = s.request(headers, { endStream: body === undefined });
  let responseHeaders: IncomingHttpHeaders = {};
  let trailers: IncomingHttpHeaders | undefined;
  const parts: Buffer[] = [];
  req.on('response', (h) => (responseHeaders = h));
  req.on('trailers', (t) => (trailers = t));
  req.on('data', (c: Buffer) => parts.push(c));
  if (Buffer.isBuffer(body)) req.end(body);
  else if (body !== undefined) body(req);
  await new Promise<void>((resolve, reject) => {
    req.once('end', resolve);
    req.once('error', reject);
  });
  return { headers: responseHeaders, trailers, body: Buffer.concat(parts) };
}

test('h2c request and response with bodies both ways; no trailers from the backend means none to the client', async () => {
  const s = await sc.session();
  const posted = await exchange(
    s,
    { ':method': 'POST', ':path': '/echo?x=1', 'content-type': 'text/plain' },
    Buffer.from('hello waypoint'),
  );
  assert.equal(posted.headers[':status'], 200);
  assert.equal(posted.headers['x-backend'], 'h2');
  const seen = JSON.parse(posted.body.toString()) as SeenRequest;
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/echo?x=1');
  assert.equal(seen.bodyBytes, 14);
  assert.equal(seen.sha256, createHash('sha256').update('hello waypoint').digest('hex'));
  assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  // The waypoint holds each response open for trailers (gRPC needs them); when none come it must end the stream
  // with an empty DATA frame, not an empty trailers HEADERS frame the client would report as trailers.
  assert.equal(posted.trailers, undefined);
  const withTrailers = await exchange(s, { ':method': 'GET', ':path': '/trailers' });
  assert.equal(withTrailers.body.toString(), 'with trailers');
  assert.equal(withTrailers.trailers?.['x-checksum'], 'abc123');
  await eventually(() => assert.equal(sc.fx.records.length, 2));
  assert.deepEqual(
    sc.fx.records.map((r) => [r.protocol, r.httpVersion, r.method, r.responseCode, r.requestBytes]),
    [
      ['http', 'HTTP/2', 'POST', 200, 14],
      ['http', 'HTTP/2', 'GET', 200, 0],
    ],
  );
});

test('a 20 MiB POST streams up through the waypoint and a 20 MiB response streams down, hashes intact', async () => {
  const s = await sc.session();
  const size = 20 * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024);
  const h = createHash('sha256');
  const up = await exchange(s, { ':method': 'POST', ':path': '/upload' }, (w) => {
    let sent = 0;
    const more = (): void => {
      while (sent < size) {
        chunk.fill(sent / chunk.length);
        h.update(chunk);
        sent += chunk.length;
        if (!w.write(Buffer.from(chunk))) {
          w.once('drain', more);
          return;
        }
      }
      w.end();
    };
    more();
  });
  const seen = JSON.parse(up.body.toString()) as SeenRequest;
  assert.equal(seen.bodyBytes, size);
  assert.equal(seen.sha256, h.digest('hex'));
  const down = await exchange(s, { ':method': 'GET', ':path': `/download?bytes=${size}` });
  assert.equal(down.body.length, size);
  assert.equal(down.headers['content-length'], String(size));
  await eventually(() =>
    assert.ok(sc.fx.records.some((r) => r.requestBytes === size) && sc.fx.records.some((r) => r.responseBytes === size)),
  );
});

test('HTTP/2 on an undeclared port is sniffed from its preface and served as h2c', async () => {
  const before = sc.fx.listener.stats()['h2'] ?? 0;
  const s = await sc.session(`${H2_VIP.sniffed}:8081`);
  const r = await exchange(s, { ':method': 'GET', ':path': '/sniffed' });
  assert.equal(r.headers[':status'], 200);
  assert.equal((JSON.parse(r.body.toString()) as SeenRequest).url, '/sniffed');
  assert.equal(sc.fx.listener.stats()['h2'], before + 1);
  await eventually(() => assert.equal(sc.fx.records.at(-1)?.httpVersion, 'HTTP/2'));
});
