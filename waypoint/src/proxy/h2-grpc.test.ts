import assert from 'node:assert/strict';
import { connect as h2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { after, before, test } from 'node:test';
import { Server, ServerCredentials, status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { eventually } from '@ambit/core/testing';
import { makeService, makeWorkload, NS, startWaypointFixture, type WaypointFixture } from '../../testing/fixture.ts';

// gRPC through the waypoint: a grpc-js server as the backend (an independent implementation), a node:http2 client
// speaking gRPC's framing over a tunnel, so headers, messages and trailers are checked byte for byte.
const VIP = '10.96.0.20';
const POD = '127.0.0.4';
let fx: WaypointFixture;
let grpc: Server;

const identity = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };
const method = (name: string, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: identity.serialize,
  requestDeserialize: identity.deserialize,
  responseSerialize: identity.serialize,
  responseDeserialize: identity.deserialize,
});

before(async () => {
  grpc = new Server();
  grpc.addService(
    { Unary: method('Unary', false), Stream: method('Stream', true), Fail: method('Fail', false) },
    {
      Unary: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) =>
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
      Stream: (call: ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < 5; i++) call.write(Buffer.from(`part${i}`));
        call.end();
      },
      Fail: (_call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb({ code: status.NOT_FOUND, details: 'nope' }),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync(`${POD}:0`, ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  fx = await startWaypointFixture();
  await fx.addPod(POD, 'grpc');
  const ports = [{ servicePort: 50051, targetPort: port, appProtocol: 'GRPC' as const }];
  fx.state.services = [makeService('grpc', VIP, ports)];
  fx.state.workloads = [makeWorkload('grpc', POD, { [`${NS}/grpc.${NS}.svc.cluster.local`]: ports })];
});
after(async () => {
  await fx.close();
  grpc.forceShutdown();
});

async function session(): Promise<ClientHttp2Session> {
  const tunnel = await fx.open(`${VIP}:50051`);
  return h2Connect(`http://${VIP}:50051`, { createConnection: () => tunnel });
}

function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function messages(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 5 <= data.length;) {
    const n = data.readUInt32BE(at + 1);
    out.push(data.subarray(at + 5, at + 5 + n).toString());
    at += 5 + n;
  }
  return out;
}

async function call(s: ClientHttp2Session, name: string, msg: string) {
  const req = s.request({ ':method': 'POST', ':path': `/test.Echo/${name}`, 'content-type': 'application/grpc', te: 'trailers' });
  req.end(frame(Buffer.from(msg)));
  let headers: IncomingHttpHeaders = {};
  let trailers: IncomingHttpHeaders = {};
  const parts: Buffer[] = [];
  req.on('response', (h) => (headers = h));
  req.on('trailers', (t) => (trailers = t));
  req.on('data', (c: Buffer) => parts.push(c));
  await new Promise<void>((resolve, reject) => {
    req.once('end', resolve);
    req.once('error', reject);
  });
  return { headers, trailers, messages: messages(Buffer.concat(parts)) };
}

test('gRPC unary and server streaming through the waypoint, trailers intact, grpc status recorded', async () => {
  const s = await session();
  try {
    const unary = await call(s, 'Unary', 'hi');
    assert.equal(unary.headers[':status'], 200);
    assert.deepEqual(unary.messages, ['echo:hi']);
    assert.equal(unary.trailers['grpc-status'], '0');
    const stream = await call(s, 'Stream', '');
    assert.deepEqual(stream.messages, ['part0', 'part1', 'part2', 'part3', 'part4']);
    assert.equal(stream.trailers['grpc-status'], '0');
    const fail = await call(s, 'Fail', '');
    assert.equal(fail.trailers['grpc-status'] ?? fail.headers['grpc-status'], '5');
    await eventually(() => assert.equal(fx.records.length, 3));
    assert.deepEqual(
      fx.records.map((r) => [r.protocol, r.httpVersion, r.grpcStatus]),
      [
        ['grpc', 'HTTP/2', 0],
        ['grpc', 'HTTP/2', 0],
        ['grpc', 'HTTP/2', 5],
      ],
    );
    // One upstream h2 session serves every call.
    assert.equal(fx.listener.stats()['h2Sessions'], 1);
  } finally {
    s.destroy();
  }
});

test('many concurrent calls on one tunnel stay within the advertised stream limit and all complete', async () => {
  const s = await session();
  try {
    await new Promise<void>((resolve) => s.once('remoteSettings', () => resolve()));
    assert.equal(s.remoteSettings.maxConcurrentStreams, 100);
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => call(s, 'Unary', String(i))));
    assert.ok(results.every((r, i) => r.messages[0] === `echo:${i}`));
  } finally {
    s.destroy();
  }
});
