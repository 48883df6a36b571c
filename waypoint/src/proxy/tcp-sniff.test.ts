import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { AppProtocol, PortMapping } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import {
  makeService,
  makeWorkload,
  NS,
  rawExchange,
  startBackend,
  startWaypointFixture,
  type Backend,
  type WaypointFixture,
} from '../../testing/fixture.ts';

// Protocol per port: declared TCP is passed through; an undeclared port is sniffed (HTTP served as HTTP, anything
// else, or silence until the deadline, passed through as TCP).
const POD = '127.0.0.5';
let fx: WaypointFixture;
let web: Backend;
const servers: Server[] = [];
const sockets = new Set<Socket>();

async function tcpServer(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onSocket(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, POD, resolve));
  return (server.address() as AddressInfo).port;
}

before(async () => {
  fx = await startWaypointFixture({ sniffDeadlineMs: 150 });
  await fx.addPod(POD, 'mixed');
  // Echo that answers after the client's FIN: proves half-close crosses the waypoint.
  const reverse = await tcpServer((s) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => s.end(Buffer.concat(parts)));
  });
  const greet = await tcpServer((s) => {
    s.write('220 hello\r\n');
    s.pipe(s);
  });
  web = await startBackend('web', POD);
  const map = (servicePort: number, targetPort: number, appProtocol: AppProtocol): PortMapping => ({
    servicePort,
    targetPort,
    appProtocol,
  });
  const services = [
    makeService('tcp', '10.96.0.30', [map(9000, reverse, 'TCP')]),
    makeService('opaque', '10.96.0.31', [map(9001, reverse, 'UNKNOWN')]),
    makeService('greet', '10.96.0.32', [map(9002, greet, 'UNKNOWN')]),
    makeService('web', '10.96.0.33', [map(8080, web.port, 'UNKNOWN')]),
  ];
  fx.state.services = services;
  fx.state.workloads = [makeWorkload('mixed', POD, Object.fromEntries(services.map((s) => [`${NS}/${s.hostname}`, s.ports])))];
});
after(async () => {
  await fx.close();
  await web.close();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

test('a port declared tcp is passed through with half-close, and recorded once as TCP', async () => {
  const out = await rawExchange(fx, '10.96.0.30:9000', 'abc', undefined, { endAfterWrite: true });
  assert.equal(out, 'abc');
  await eventually(() => assert.equal(fx.tcpRecords.length, 1));
  assert.equal(fx.tcpRecords[0]?.bytesSent, 3);
  assert.equal(fx.tcpRecords[0]?.bytesReceived, 3);
});

test('an undeclared port: HTTP/1.1 is sniffed and served as HTTP', async () => {
  const out = await rawExchange(fx, '10.96.0.33:8080', 'GET /sniffed HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 200 /);
  await eventually(() => assert.ok(fx.records.some((r) => r.path === '/sniffed' && r.responseCode === 200)));
});

test('an undeclared port: other bytes, or a short message and FIN, are passed through as TCP', async () => {
  assert.equal(await rawExchange(fx, '10.96.0.31:9001', '\x16\x03\x01binary', undefined, { endAfterWrite: true }), '\x16\x03\x01binary');
  assert.equal(await rawExchange(fx, '10.96.0.31:9001', 'GET', undefined, { endAfterWrite: true }), 'GET');
});

test('an undeclared port: a server-first protocol gets its greeting once the sniff deadline passes', async () => {
  const t0 = performance.now();
  const out = await rawExchange(fx, '10.96.0.32:9002', '', /220 hello/);
  assert.match(out, /^220 hello/);
  assert.ok(performance.now() - t0 >= 140, 'waited for the sniff deadline');
});
