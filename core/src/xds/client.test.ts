import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, type Clock } from '../clock.ts';
import { silentLogger } from '../log.ts';
import { eventually } from '../../testing/eventually.ts';
import { RPC_INVALID_ARGUMENT, type DeltaDiscoveryRequestWire } from '../proto/discovery-wire.ts';
import { fromStruct } from '../proto/load.ts';
import { createXdsClient, type XdsChange, type XdsClientOptions } from './client.ts';
import { createFakeXdsServer, type FakeXdsServer, type FakeXdsStream } from '../../testing/fake-xds-server.ts';
import { makeSocketDir, openSockets, pendingTimers, type SocketDir } from '../../testing/sockets.ts';

const TYPE = 'type.googleapis.com/test.Thing';
const OTHER = 'type.googleapis.com/test.Other';
const text = (s: string) => Buffer.from(s);

/** Bodies are UTF-8 text; a body starting with "bad" fails to decode, as malformed protobuf would. */
function decodeText(name: string, bytes: Uint8Array): string {
  const s = Buffer.from(bytes).toString();
  if (s.startsWith('bad')) throw new Error(`cannot parse ${name}`);
  return s;
}

let dir: SocketDir;
let baseline: { sockets: number; timers: number };
before(() => {
  dir = makeSocketDir();
  baseline = { sockets: openSockets(), timers: pendingTimers() };
});
after(async () => {
  // Every test closed its clients and servers: no socket or timer of ours may outlive them.
  await eventually(() => {
    assert.equal(openSockets(), baseline.sockets, 'leaked sockets');
    assert.ok(pendingTimers() <= baseline.timers, 'leaked timers');
  }, 3000);
  dir.remove();
});

async function setup(t: { after(fn: () => unknown): void }, name: string, extra: Partial<XdsClientOptions> = {}) {
  const server = await createFakeXdsServer({ socketPath: dir.path(`${name}.sock`) });
  const changes: Array<XdsChange<unknown>> = [];
  const client = createXdsClient({
    target: server.address,
    node: { id: `node-${name}`, metadata: { NAME: name } },
    types: [{ typeUrl: TYPE, decode: decodeText, onChange: (c) => changes.push(c) }],
    log: silentLogger(),
    backoff: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  const stream = await eventually(() => firstStream(server), 2000);
  return { server, client, changes, stream };
}

function firstStream(server: FakeXdsServer, index = 0): FakeXdsStream {
  const s = server.streams[index];
  assert.ok(s && s.requests.length > 0, `stream ${index} has not subscribed yet`);
  return s;
}

function lastRequest(stream: FakeXdsStream): DeltaDiscoveryRequestWire {
  const r = stream.requests.at(-1);
  assert.ok(r, 'no request yet');
  return r;
}

async function acked(stream: FakeXdsStream, nonce: string): Promise<DeltaDiscoveryRequestWire> {
  return eventually(() => {
    const r = stream.requests.find((q) => q.responseNonce === nonce);
    assert.ok(r, `nonce ${nonce} not answered yet`);
    return r;
  }, 2000);
}

test('subscribes to every resource with its node on the first request, applies a response and ACKs it', async (t) => {
  const { client, stream, changes } = await setup(t, 'apply');
  const first = stream.requests[0];
  assert.equal(first?.node?.id, 'node-apply');
  assert.deepEqual(fromStruct(first?.node?.metadata), { NAME: 'apply' });
  assert.equal(first?.typeUrl, TYPE);
  assert.deepEqual(first?.resourceNamesSubscribe, ['*']);
  assert.deepEqual(first?.initialResourceVersions, {});
  assert.equal(client.connected(), false, 'not connected before the first response');

  const nonce = stream.send(TYPE, [
    { name: 'a', body: text('A1'), version: '1' },
    { name: 'b', body: text('B1'), version: '1' },
  ]);
  const ack = await acked(stream, nonce);
  assert.equal(ack.errorDetail, null);
  assert.equal(ack.typeUrl, TYPE);
  assert.deepEqual(
    [...client.state(TYPE)],
    [
      ['a', 'A1'],
      ['b', 'B1'],
    ],
  );
  assert.deepEqual(
    [...client.versions(TYPE)],
    [
      ['a', '1'],
      ['b', '1'],
    ],
  );
  assert.equal(client.connected(), true);
  assert.equal(changes.length, 1);

  const n2 = stream.send(TYPE, [{ name: 'a', body: text('A2'), version: '2' }], ['b', 'never-had']);
  await acked(stream, n2);
  assert.deepEqual([...client.state(TYPE)], [['a', 'A2']]);
  assert.deepEqual(changes[1]?.removed, ['b'], 'only names the client held are reported removed');
  assert.deepEqual(client.stats(), { streams: 1, responses: 2, acks: 2, nacks: 0 });
});

test('a response with one bad resource is NACKed whole, naming it, and none of it is applied', async (t) => {
  const { client, stream, changes } = await setup(t, 'nack');
  await acked(stream, stream.send(TYPE, [{ name: 'a', body: text('A1'), version: '1' }]));
  const nonce = stream.send(
    TYPE,
    [
      { name: 'a', body: text('A2'), version: '2' },
      { name: 'c', body: text('bad bytes'), version: '1' },
    ],
    [],
  );
  const nack = await acked(stream, nonce);
  assert.equal(nack.errorDetail?.code, RPC_INVALID_ARGUMENT);
  assert.match(nack.errorDetail?.message ?? '', /resource "c": cannot parse c/);
  assert.deepEqual([...client.state(TYPE)], [['a', 'A1']], 'the previous good version stays in force');
  assert.deepEqual([...client.versions(TYPE)], [['a', '1']]);
  assert.equal(changes.length, 1, 'onChange is not called for a rejected response');

  const wrongType = stream.send(TYPE, []);
  await acked(stream, wrongType);
  const unknownType = stream.send(OTHER, [{ name: 'x', body: text('X') }]);
  assert.match((await acked(stream, unknownType)).errorDetail?.message ?? '', /was not subscribed/);
  assert.equal(client.stats().nacks, 2);
});

test('reconnects after the stream breaks, keeps serving its state, and resumes with the versions it holds', async (t) => {
  const { server, client, stream } = await setup(t, 'resume');
  await acked(
    stream,
    stream.send(TYPE, [
      { name: 'a', body: text('A1'), version: 'va' },
      { name: 'b', body: text('B1'), version: 'vb' },
    ]),
  );
  stream.end();
  // Between the break and the reconnect the proxy still has its last good state.
  assert.deepEqual([...client.state(TYPE).keys()], ['a', 'b']);
  const second = await eventually(() => firstStream(server, 1), 2000);
  assert.equal(client.connected(), false, 'not connected until the new stream answers');
  assert.deepEqual(second.requests[0]?.initialResourceVersions, { a: 'va', b: 'vb' });
  assert.equal(second.requests[0]?.node?.id, 'node-resume');
  await acked(second, second.send(TYPE, [], ['b']));
  assert.deepEqual([...client.state(TYPE)], [['a', 'A1']]);
  assert.equal(client.connected(), true);
});

test('keeps retrying with backoff until a server appears', async (t) => {
  const socketPath = dir.path('late.sock');
  const client = createXdsClient({
    target: `unix:${socketPath}`,
    node: { id: 'late' },
    types: [{ typeUrl: TYPE, decode: decodeText, onChange: () => {} }],
    log: silentLogger(),
    backoff: { initialMs: 10, maxMs: 50 },
  });
  t.after(() => client.close());
  await eventually(() => assert.ok(client.stats().streams >= 3, 'several failed attempts'), 3000);
  const server = await createFakeXdsServer({ socketPath });
  t.after(() => server.close());
  const stream = await eventually(() => firstStream(server), 2000);
  await acked(stream, stream.send(TYPE, [{ name: 'a', body: text('A') }]));
  assert.equal(client.connected(), true);
});

test('until the controller first answers, retries stay at most 1 s apart however the backoff grows', async (t) => {
  // A node starting with its cluster: the controller is not up yet. The clock records each wait and runs it at once.
  const waits: number[] = [];
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      waits.push(ms);
      return systemClock.setTimeout(fn, 1);
    },
    clearTimeout: (timer) => systemClock.clearTimeout(timer),
  };
  const client = createXdsClient({
    target: `unix:${dir.path('starting.sock')}`,
    node: { id: 'starting' },
    types: [{ typeUrl: TYPE, decode: decodeText, onChange: () => {} }],
    log: silentLogger(),
    clock,
    // Grown, this schedule would wait 0.8–1.6 s, then 1.6–3.2 s, …
    backoff: { initialMs: 800, maxMs: 60_000 },
  });
  t.after(() => client.close());
  await eventually(() => assert.ok(waits.length >= 5, `${waits.length} retries`), 3000);
  assert.ok(Math.max(...waits) <= 1000, `waits ${waits.join(', ')}`);
});

test('explicit names are subscribed as given, and an empty list is refused rather than read as a wildcard', async (t) => {
  const server = await createFakeXdsServer({ socketPath: dir.path('names.sock') });
  const client = createXdsClient({
    target: server.address,
    node: { id: 'names' },
    types: [
      { typeUrl: TYPE, names: ['a', 'c'], decode: decodeText, onChange: () => {} },
      { typeUrl: OTHER, decode: decodeText, onChange: () => {} },
    ],
    log: silentLogger(),
  });
  t.after(async () => {
    client.close();
    await server.close();
  });
  const stream = await eventually(() => {
    const s = firstStream(server);
    assert.equal(s.requests.length, 2);
    return s;
  }, 2000);
  assert.deepEqual(stream.requests[0]?.resourceNamesSubscribe, ['a', 'c']);
  assert.equal(stream.requests[1]?.node, null, 'the node goes on the first request of a stream only');
  assert.deepEqual(stream.requests[1]?.resourceNamesSubscribe, ['*']);
  assert.throws(
    () =>
      createXdsClient({
        target: server.address,
        node: { id: 'x' },
        types: [{ typeUrl: TYPE, names: [], decode: decodeText, onChange: () => {} }],
        log: silentLogger(),
      }),
    /names must be non-empty/,
  );
});

test('call metadata is sent on every stream (bearer tokens)', async (t) => {
  let n = 0;
  const { server, stream } = await setup(t, 'md', { callMetadata: () => ({ authorization: `Bearer token-${++n}` }) });
  assert.deepEqual(stream.metadata.get('authorization'), ['Bearer token-1']);
  stream.end();
  const second = await eventually(() => firstStream(server, 1), 2000);
  assert.deepEqual(second.metadata.get('authorization'), ['Bearer token-2']);
});

test('close stops reconnecting', async (t) => {
  const { server, client, stream } = await setup(t, 'close');
  client.close();
  await eventually(() => assert.ok(stream.ended), 2000);
  assert.equal(client.connected(), false);
  const streams = client.stats().streams;
  await server.close();
  // Nothing to wait for: a closed client has no timer, which the after() hook checks; the count must not grow.
  assert.equal(client.stats().streams, streams);
  assert.equal(lastRequest(stream).typeUrl, TYPE);
});
