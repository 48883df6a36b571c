import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http2';
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import {
  Client as GrpcClient,
  credentials,
  Server as GrpcServer,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceError,
} from '@grpc/grpc-js';
import type { L7Authorization } from '@ambit/core/policy';
import { eventually } from '@ambit/core/testing';
import { makeService, makeWorkload, NS } from '../../testing/fixture.ts';
import { startH2Scenario, type H2Scenario } from '../../testing/h2-backend.ts';

// L7 authorization over HTTP/2 and gRPC: a node:http2 client and a real grpc-js client (through a loopback bridge whose
// every connection is a tunnel) → waypoint → h2c / grpc-js backends. A denial is a 403 `RBAC: access denied`, which a
// gRPC client reads as PERMISSION_DENIED (HTTP→gRPC status mapping), as with Envoy.
const GRPC_VIP = '10.96.0.60';
const GRPC_POD = '127.0.0.7';
let sc: H2Scenario;
let grpc: GrpcServer;
let bridge: NetServer;
const bridged = new Set<Socket>();

const identity = (b: Buffer): Buffer => b;
const ECHO = {
  path: '/test.Echo/Unary',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
} as const;

before(async () => {
  sc = await startH2Scenario();
  grpc = new GrpcServer();
  grpc.addService({ Unary: ECHO }, { Unary: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync(`${GRPC_POD}:0`, ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  await sc.fx.addPod(GRPC_POD, 'grpc');
  const ports = [{ servicePort: 50051, targetPort: port, appProtocol: 'GRPC' as const }];
  sc.fx.state.services = [...sc.fx.state.services, makeService('grpc', GRPC_VIP, ports)];
  sc.fx.state.workloads = [...sc.fx.state.workloads, makeWorkload('grpc', GRPC_POD, { [`${NS}/grpc.${NS}.svc.cluster.local`]: ports })];
  sc.fx.state.bump();
  // grpc-js dials TCP itself: each of its connections becomes a tunnel to the gRPC Service's VIP.
  bridge = createServer({ allowHalfOpen: true }, (socket) => {
    bridged.add(socket);
    socket.once('close', () => bridged.delete(socket));
    sc.fx.open(`${GRPC_VIP}:50051`).then(
      (tunnel) => {
        socket.pipe(tunnel).pipe(socket);
        tunnel.on('error', () => socket.destroy());
        socket.on('error', () => tunnel.destroy());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => bridge.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  for (const s of bridged) s.destroy();
  await new Promise<void>((resolve) => bridge.close(() => resolve()));
  await sc.close();
  grpc.forceShutdown();
});
beforeEach(() => {
  sc.fx.records.length = 0;
});

const denyPath = (path: string): L7Authorization => ({
  name: 'deny-path',
  namespace: NS,
  action: 'DENY',
  dryRun: false,
  targets: [{ kind: 'Gateway', namespace: NS, name: 'waypoint' }],
  rules: [
    {
      from: [],
      to: [{ hosts: [], notHosts: [], ports: [], notPorts: [], methods: [], notMethods: [], paths: [{ exact: path }], notPaths: [] }],
      when: [],
    },
  ],
});

test('HTTP/2: a denied request gets 403 RBAC: access denied on its stream; the next stream on the session is served', async () => {
  sc.fx.state.l7 = [denyPath('/secret')];
  sc.fx.state.bump();
  const s = await sc.session();
  const get = async (path: string): Promise<{ headers: IncomingHttpHeaders; body: string }> => {
    const req = s.request({ ':method': 'GET', ':path': path });
    let headers: IncomingHttpHeaders = {};
    let body = '';
    req.on('response', (h) => (headers = h));
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    await new Promise<void>((resolve, reject) => {
      req.once('end', resolve);
      req.once('error', reject);
    });
    return { headers, body };
  };
  const denied = await get('/secret');
  assert.equal(denied.headers[':status'], 403);
  assert.equal(denied.headers['content-type'], 'text/plain');
  assert.equal(denied.body, 'RBAC: access denied');
  const ok = await get('/open');
  assert.equal(ok.headers[':status'], 200);
  await eventually(() => assert.equal(sc.fx.records.length, 2));
  assert.deepEqual(
    sc.fx.records.map((r) => [r.httpVersion, r.responseCode, r.authz?.allow, r.authz?.policy]),
    [
      ['HTTP/2', 403, false, `${NS}/deny-path`],
      ['HTTP/2', 200, true, undefined],
    ],
  );
});

test('gRPC: a denied call fails with PERMISSION_DENIED at a real grpc-js client; an allowed one succeeds', async () => {
  sc.fx.state.l7 = [denyPath('/test.Echo/Unary')];
  sc.fx.state.bump();
  const client = new GrpcClient(`127.0.0.1:${(bridge.address() as AddressInfo).port}`, credentials.createInsecure());
  const call = (): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(ECHO.path, identity, identity, Buffer.from('hi'), (err: ServiceError | null, res?: Buffer) =>
        err !== null ? reject(err) : resolve(res ?? Buffer.alloc(0)),
      ),
    );
  try {
    await assert.rejects(call(), (err: ServiceError) => {
      assert.equal(err.code, status.PERMISSION_DENIED);
      return true;
    });
    await eventually(() => assert.equal(sc.fx.records.length, 1));
    assert.deepEqual(
      sc.fx.records.map((r) => [r.protocol, r.responseCode, r.grpcStatus, r.authz?.policy]),
      [['grpc', 403, 7, `${NS}/deny-path`]],
    );
    sc.fx.state.l7 = [];
    sc.fx.state.bump();
    assert.equal((await call()).toString(), 'hi');
  } finally {
    client.close();
  }
});
