import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { rawExchange, type SeenRequest } from '../../testing/fixture.ts';
import { startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

let sc: Scenario;
const svc = `${VIP.svc}:80`;
before(async () => {
  sc = await startScenario();
});
after(async () => {
  await sc.close();
});

const handshake = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nhost: svc\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

test('an upgrade the backend declines is relayed as an ordinary response, and the connection carries routed requests again', async () => {
  // The declined handshake and, pipelined behind it, a plain request that must be routed (not piped raw).
  const out = await rawExchange(
    sc.fx,
    svc,
    `${handshake('/refuse-upgrade')}GET /after HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n`,
    undefined,
  );
  assert.match(out, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.match(out, /\r\n\r\nnot upgrading/);
  // The upgrade response's own framing (content-length 13) ends it; the next response follows on the same connection.
  const second = out.slice(out.indexOf('not upgrading') + 'not upgrading'.length);
  assert.match(second, /^HTTP\/1\.1 200 /);
  const seen = [...sc.v1.seen, ...sc.v2.seen].find((r) => r.url === '/after') as SeenRequest;
  assert.ok(seen !== undefined, 'the backend saw the second request');
  // Routed by the waypoint: it generated a request id and appended the client to x-forwarded-for.
  assert.match(String(seen.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(seen.headers['x-forwarded-for'], '10.1.1.1');
  await eventually(() => {
    const codes = sc.fx.records.filter((r) => r.path === '/refuse-upgrade' || r.path === '/after').map((r) => [r.path, r.responseCode]);
    assert.deepEqual(codes, [
      ['/refuse-upgrade', 426],
      ['/after', 200],
    ]);
  });
});

test('an accepted upgrade (101) is still piped raw both ways', async () => {
  const out = await rawExchange(sc.fx, svc, `${handshake('/ws')}ping-bytes`, /ping-bytes/);
  assert.match(out, /^HTTP\/1\.1 101 /);
  assert.match(out, /upgrade: websocket/i);
  await eventually(() => assert.ok(sc.fx.records.some((r) => r.path === '/ws' && r.responseCode === 101)));
});
