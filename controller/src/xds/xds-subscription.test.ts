import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { eventually } from '@ambit/core/testing';
import {
  aggregatedDiscoveryService,
  DELTA_AGGREGATED_RESOURCES_PATH,
  type DeltaDiscoveryRequestWire,
  type DeltaDiscoveryResponseWire,
} from '@ambit/core/xds';
import { ADDRESS_TYPE_URL, harness, type Harness } from '../../testing/xds-harness.ts';

const method = aggregatedDiscoveryService.DeltaAggregatedResources;
const body = (s: string) => ({ name: s, body: Buffer.from(s) });

/** A hand-driven proxy: the test writes each request and reads each response, to check the protocol itself. */
function scriptedProxy(h: Harness, target: string) {
  const channel = new grpc.Client(target, grpc.credentials.createInsecure());
  const call = channel.makeBidiStreamRequest(DELTA_AGGREGATED_RESOURCES_PATH, method.requestSerialize, method.responseDeserialize);
  const responses: DeltaDiscoveryResponseWire[] = [];
  const state: { status?: grpc.StatusObject } = {};
  call.on('data', (r: DeltaDiscoveryResponseWire) => responses.push(r));
  call.on('status', (s: grpc.StatusObject) => (state.status = s));
  call.on('error', () => {});
  h.defer(() => {
    call.cancel();
    channel.close();
  });
  return {
    responses,
    state,
    send: (req: DeltaDiscoveryRequestWire) => call.write(req),
    async next(count: number): Promise<DeltaDiscoveryResponseWire> {
      return eventually(() => {
        const r = responses[count - 1];
        assert.ok(r, `response ${count} not received`);
        return r;
      }, 1000);
    },
  };
}

const names = (r: DeltaDiscoveryResponseWire) => r.resources.map((x) => x.name).sort();

test('subscriptions change on a live stream: add a name, drop it, go wildcard; stale nonces are ignored', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  server.publish(ADDRESS_TYPE_URL, { upserted: ['a', 'b', 'c'].map(body), removed: [] });
  const p = scriptedProxy(h, server.address);
  p.send({ node: { id: 'scripted' }, typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: ['a'] });
  const r1 = await p.next(1);
  assert.deepEqual(names(r1), ['a']);
  assert.equal(r1.resources[0]?.resource?.type_url, ADDRESS_TYPE_URL);

  // ACK and subscribe to b in one request, as Envoy allows.
  p.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: r1.nonce, resourceNamesSubscribe: ['b'] });
  const r2 = await p.next(2);
  assert.deepEqual(names(r2), ['b']);
  assert.notEqual(r2.nonce, r1.nonce);

  // A stale nonce (r1 again) neither ACKs r2 nor triggers anything.
  p.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: r1.nonce });
  server.publish(ADDRESS_TYPE_URL, { upserted: [{ name: 'a', body: Buffer.from('a2') }], removed: [] });
  assert.equal(server.connections()[0]?.types[ADDRESS_TYPE_URL]?.ackedVersions, 1, 'r2 is still in flight');
  p.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: r2.nonce });
  const r3 = await p.next(3);
  assert.deepEqual(names(r3), ['a'], 'the change waited for the ACK of r2');

  // Unsubscribing b: nothing is sent for it (the proxy drops it itself), and its later changes are not pushed.
  p.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: r3.nonce, resourceNamesUnsubscribe: ['b'] });
  server.publish(ADDRESS_TYPE_URL, { upserted: [{ name: 'b', body: Buffer.from('b2') }], removed: [] });
  p.send({ typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: ['*'] });
  const r4 = await p.next(4);
  assert.deepEqual(names(r4), ['b', 'c'], 'going wildcard sends what the proxy lacks, and only that');
  assert.equal(r4.resources.find((x) => x.name === 'b')?.resource?.value.toString(), 'b2');
  assert.equal(p.responses.length, 4);
});

test('a stream may subscribe to a bounded number of types', async (t) => {
  const h = harness(t);
  const server = await h.server();
  const p = scriptedProxy(h, server.address);
  p.send({ node: { id: 'greedy' }, typeUrl: 'type.googleapis.com/t.T0' });
  for (let i = 1; i <= 40; i++) p.send({ typeUrl: `type.googleapis.com/t.T${i}` });
  await eventually(() => assert.equal(p.state.status?.code, grpc.status.RESOURCE_EXHAUSTED), 1000);
  assert.match(p.state.status?.details ?? '', /more than 32 types/);
});
