import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, beforeEach, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import type { TrafficPolicy } from '@ambit/core/traffic';
import { NS } from '../../testing/fixture.ts';
import { startH2Scenario, type H2Scenario } from '../../testing/h2-backend.ts';

// DestinationRule connection pool for an h2c upstream (one multiplexed session per endpoint).
let sc: H2Scenario;
const HOST = `h2.${NS}.svc.cluster.local`;
before(async () => {
  sc = await startH2Scenario();
});
after(async () => {
  await sc.close();
});
beforeEach(() => {
  sc.fx.records.length = 0;
});

function setPolicy(trafficPolicy: TrafficPolicy): void {
  sc.fx.state.traffic.set(`${NS}/${HOST}`, { service: { namespace: NS, hostname: HOST }, trafficPolicy, subsets: [] });
  sc.fx.state.bump();
}

function status(s: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': 'GET', ':path': path });
    let code = 0;
    req.once('response', (h) => (code = Number(h[':status'])));
    req.resume();
    req.once('end', () => resolve(code));
    req.once('error', reject);
  });
}

test('h2: http2MaxRequests caps streams in flight (UO beyond); maxRequestsPerConnection rotates the upstream session', async () => {
  setPolicy({ connectionPool: { http2MaxRequests: 2 } });
  const s = await sc.session();
  assert.equal(await status(s, '/'), 200);
  const codes = await Promise.all(Array.from({ length: 5 }, () => status(s, '/sleep?ms=300')));
  assert.deepEqual(
    [...codes].sort((a, b) => a - b),
    [200, 200, 503, 503, 503],
  );
  await eventually(() => assert.equal(sc.fx.records.filter((r) => r.responseFlags === 'UO').length, 3));

  setPolicy({ connectionPool: { maxRequestsPerConnection: 2 } });
  const pod = sc.fx.pods.get(sc.backend.ip);
  assert.ok(pod !== undefined);
  const closedBefore = pod.peers.length;
  for (let i = 0; i < 6; i++) assert.equal(await status(s, '/'), 200);
  // Six streams, two per session: the first two sessions are closed (each tunnel's close is recorded by the pod).
  await eventually(() => assert.ok(pod.peers.length - closedBefore >= 2, `${pod.peers.length - closedBefore} sessions closed`));
});

test('h2: idleTimeout closes an idle upstream session', async () => {
  setPolicy({ connectionPool: { idleTimeoutMs: 200 } });
  const pod = sc.fx.pods.get(sc.backend.ip);
  assert.ok(pod !== undefined);
  const s = await sc.session();
  const closedBefore = pod.peers.length;
  assert.equal(await status(s, '/'), 200);
  await eventually(() => assert.equal(pod.peers.length - closedBefore, 1, 'the session closed after 200 ms idle'), 2_000);
});
