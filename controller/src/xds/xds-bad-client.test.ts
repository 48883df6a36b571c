import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { eventually } from '@ambit/core/testing';
import { aggregatedDiscoveryService, DELTA_AGGREGATED_RESOURCES_PATH, type DeltaDiscoveryRequestWire } from '@ambit/core/xds';
import { ADDRESS_TYPE_URL, harness, workload, workloadResource, type Harness } from '../../testing/xds-harness.ts';

const method = aggregatedDiscoveryService.DeltaAggregatedResources;

/** A raw stream whose behaviour the test scripts; it records how the server ended it. */
function rawStream(h: Harness, target: string, opts: { read: boolean; metadata?: Record<string, string> }) {
  const channel = new grpc.Client(target, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  // Identity serializer: the test writes exact bytes, valid or not.
  const call = channel.makeBidiStreamRequest(DELTA_AGGREGATED_RESOURCES_PATH, (b: Buffer) => b, method.responseDeserialize, md);
  const result: { status?: grpc.StatusObject; responses: number } = { responses: 0 };
  call.on('status', (s: grpc.StatusObject) => (result.status = s));
  call.on('error', () => {});
  if (opts.read) call.on('data', () => result.responses++);
  h.defer(() => {
    call.cancel();
    channel.close();
  });
  return {
    result,
    send: (req: DeltaDiscoveryRequestWire) => call.write(method.requestSerialize(req)),
    sendBytes: (b: Buffer) => call.write(b),
  };
}

const subscribeAll = (id: string): DeltaDiscoveryRequestWire => ({
  node: { id },
  typeUrl: ADDRESS_TYPE_URL,
  resourceNamesSubscribe: ['*'],
});

test('a proxy sending garbage or never ACKing (nor reading) does not block another proxy', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0, maxResourcesPerResponse: 500 });
  const garbage = rawStream(h, server.address, { read: true });
  garbage.sendBytes(Buffer.from('\xff\xff\xff this is not protobuf'));
  const silent = rawStream(h, server.address, { read: false });
  silent.send(subscribeAll('silent'));
  const good = h.client(server.address);
  await eventually(() => assert.equal(server.connections().length, 2), 2000);

  for (let round = 0; round < 5; round++) {
    const batch = Array.from({ length: 1000 }, (_, i) => workloadResource(workload(i, { canonicalRevision: `r${round}` })));
    server.publish(ADDRESS_TYPE_URL, { upserted: batch, removed: [] });
    await eventually(() => assert.equal(good.workloads().get(workload(999).uid)?.canonicalRevision, `r${round}`), 1000);
  }
  await eventually(() => assert.ok(garbage.result.status, 'the garbage stream was ended'), 1000);
  assert.notEqual(garbage.result.status?.code, grpc.status.OK);
  const silentInfo = server.connections().find((c) => c.nodeId === 'silent')?.types[ADDRESS_TYPE_URL];
  assert.ok(silentInfo && silentInfo.pending > 0 && silentInfo.ackedNonce === '', 'the silent proxy holds back only itself');
  assert.equal(silentInfo.pending, 1000, 'its changes wait behind its unanswered response: one response in flight, memory bounded');
});

test('a stream must identify itself: a first request without node.id is refused', async (t) => {
  const h = harness(t);
  const server = await h.server();
  const anon = rawStream(h, server.address, { read: true });
  anon.send({ typeUrl: ADDRESS_TYPE_URL });
  await eventually(() => assert.equal(anon.result.status?.code, grpc.status.INVALID_ARGUMENT), 1000);
  assert.match(anon.result.status?.details ?? '', /node\.id/);
  assert.equal(server.connections().length, 0);
});

test('authenticate: refusal and a node that disagrees with the credentials end the stream', async (t) => {
  const h = harness(t);
  const server = await h.server({
    authenticate: async (md) => {
      const token = md.get('authorization')[0];
      if (token === 'Bearer ztunnel-node1') return { node: 'ztunnel-node1' };
      return new Error('invalid bearer token');
    },
  });
  const noToken = rawStream(h, server.address, { read: true });
  noToken.send(subscribeAll('ztunnel-node1'));
  const impostor = rawStream(h, server.address, { read: true, metadata: { authorization: 'Bearer ztunnel-node1' } });
  impostor.send(subscribeAll('ztunnel-node2'));
  const honest = rawStream(h, server.address, { read: true, metadata: { authorization: 'Bearer ztunnel-node1' } });
  honest.send(subscribeAll('ztunnel-node1'));
  await eventually(() => assert.equal(noToken.result.status?.code, grpc.status.UNAUTHENTICATED), 1000);
  assert.equal(noToken.result.status?.details, 'invalid bearer token');
  await eventually(() => assert.equal(impostor.result.status?.code, grpc.status.PERMISSION_DENIED), 1000);
  await eventually(() => assert.equal(honest.result.responses, 1), 1000);
  assert.deepEqual(
    server.connections().map((c) => c.nodeId),
    ['ztunnel-node1'],
  );
});

test('streams beyond maxConnections are refused with RESOURCE_EXHAUSTED', async (t) => {
  const h = harness(t);
  const server = await h.server({ maxConnections: 2 });
  const ok1 = rawStream(h, server.address, { read: true });
  ok1.send(subscribeAll('a'));
  const ok2 = rawStream(h, server.address, { read: true });
  ok2.send(subscribeAll('b'));
  await eventually(() => assert.equal(server.connections().length, 2), 1000);
  const third = rawStream(h, server.address, { read: true });
  third.send(subscribeAll('c'));
  await eventually(() => assert.equal(third.result.status?.code, grpc.status.RESOURCE_EXHAUSTED), 1000);
  const gauge = await server.metrics.connectedProxies.get();
  assert.equal(gauge.values[0]?.value, 2);
});
