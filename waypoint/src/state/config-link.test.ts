import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADDRESS_TYPE_URL, silentLogger } from '@ambit/core';
import { encodeAddress } from '@ambit/core/codec';
import { encodeL7Authorization, L7_AUTHORIZATION_TYPE_URL, type L7Authorization } from '@ambit/core/policy';
import { ROUTE_SET_TYPE_URL, encodeRouteSet, routeSetKey, type RouteSet } from '@ambit/core/routes';
import { eventually } from '@ambit/core/testing';
import { SERVICE_TRAFFIC_TYPE_URL, encodeServiceTraffic, type ServiceTraffic } from '@ambit/core/traffic';
import { createFakeXdsServer } from '@ambit/core/testing/fake-xds-server';
import { meshService, waypointRef } from '../../testing/mesh-fixtures.ts';
import { startConfigLink, waypointNode } from './config-link.ts';
import { createWaypointStore } from './waypoint-state.ts';

const api = meshService('demo', 'api', '10.96.0.10', [{ port: 80 }], { waypoint: waypointRef('demo', 'waypoint') });
const gwSet = (ruleRoute: string): RouteSet => ({
  parent: { kind: 'Gateway', namespace: 'demo', name: 'waypoint' },
  rules: [{ route: ruleRoute, kind: 'HTTPRoute', ruleIndex: 0, filters: [], backends: [] }],
  entries: [{ match: { headers: [], queryParams: [] }, rule: 0 }],
});

const denyAll: L7Authorization = {
  name: 'deny-all',
  namespace: 'demo',
  action: 'DENY',
  dryRun: false,
  targets: [{ kind: 'Gateway', namespace: 'demo', name: 'waypoint' }],
  rules: [{ from: [], to: [], when: [] }],
};

test('the link fills the store from every type, is synced only after all, and keeps the last good set on a NACK', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-wp-link-'));
  const server = await createFakeXdsServer({ socketPath: join(dir, 'xds.sock') });
  const store = createWaypointStore({ namespace: 'demo', name: 'waypoint' });
  const node = waypointNode({
    podIp: '10.244.1.3',
    podName: 'waypoint-abc',
    podNamespace: 'demo',
    gatewayName: 'waypoint',
    serviceAccount: 'waypoint',
  });
  const link = startConfigLink({ target: server.address, node, token: () => Promise.resolve('tok-1'), store, log: silentLogger() });
  try {
    await eventually(() => assert.equal(server.streams[0]?.requests.length, 4));
    const stream = server.streams[0];
    assert.ok(stream !== undefined);
    assert.deepEqual(stream.metadata.get('authorization'), ['Bearer tok-1']);
    assert.equal(stream.requests[0]?.node?.id, 'router~10.244.1.3~waypoint-abc.demo~demo.svc.cluster.local');
    assert.deepEqual(
      stream.requests.map((r) => r.typeUrl),
      [ADDRESS_TYPE_URL, ROUTE_SET_TYPE_URL, L7_AUTHORIZATION_TYPE_URL, SERVICE_TRAFFIC_TYPE_URL],
    );

    stream.send(ADDRESS_TYPE_URL, [{ name: 'demo/api.demo.svc.cluster.local', body: encodeAddress({ service: api }) }]);
    await eventually(() => assert.equal(store.serviceByVip('10.96.0.10')?.name, 'api'));
    assert.equal(link.synced(), false, 'routes not answered yet');

    const key = routeSetKey(gwSet('demo/a').parent);
    stream.send(ROUTE_SET_TYPE_URL, [{ name: key, body: encodeRouteSet(gwSet('demo/a')) }]);
    await eventually(() => assert.equal(store.routesFor(api, 80)?.rules[0]?.route, 'demo/a'));
    assert.equal(link.synced(), false, 'L7 policies not answered yet');
    stream.send(L7_AUTHORIZATION_TYPE_URL, [{ name: 'demo/deny-all', body: encodeL7Authorization(denyAll) }]);
    await eventually(() =>
      assert.deepEqual(
        store.l7PoliciesFor(api).map((p) => p.name),
        ['deny-all'],
      ),
    );
    assert.equal(link.synced(), false, 'traffic not answered yet');
    const traffic: ServiceTraffic = {
      service: { namespace: 'demo', hostname: api.hostname },
      subsets: [],
      rateLimit: { policy: 'demo/rl', total: { requestsPerSecond: 10, burst: 1 }, overrides: [] },
    };
    const trafficKey = `demo/${api.hostname}`;
    stream.send(SERVICE_TRAFFIC_TYPE_URL, [{ name: trafficKey, body: encodeServiceTraffic(traffic) }]);
    await link.firstConfig;
    assert.equal(link.synced(), true);
    assert.equal(store.routesFor(api, 80)?.rules[0]?.route, 'demo/a');

    // A bad regex is a NACK naming resource and field; the store keeps demo/a.
    const bad = {
      ...gwSet('demo/b'),
      entries: [{ match: { path: { type: 'RegularExpression', value: '(' }, headers: [], queryParams: [] }, rule: 0 }],
    };
    const nonce = stream.send(ROUTE_SET_TYPE_URL, [{ name: key, body: new TextEncoder().encode(JSON.stringify(bad)) }]);
    await eventually(() => assert.ok(stream.requests.some((r) => r.responseNonce === nonce)));
    const nack = stream.requests.find((r) => r.responseNonce === nonce);
    assert.match(nack?.errorDetail?.message ?? '', /entries\[0\]\.match\.path\.value: is not a regular expression/);
    assert.equal(store.routesFor(api, 80)?.rules[0]?.route, 'demo/a');

    stream.send(ROUTE_SET_TYPE_URL, [], [key]);
    await eventually(() => assert.equal(store.routesFor(api, 80), undefined));

    // L7Authorization: a policy that does not decode is a NACK naming the field; the store keeps the last good one.
    const badPolicy = { ...denyAll, action: 'AUDIT' };
    const policyNonce = stream.send(L7_AUTHORIZATION_TYPE_URL, [
      { name: 'demo/deny-all', body: new TextEncoder().encode(JSON.stringify(badPolicy)) },
    ]);
    await eventually(() => assert.ok(stream.requests.some((r) => r.responseNonce === policyNonce)));
    assert.match(stream.requests.find((r) => r.responseNonce === policyNonce)?.errorDetail?.message ?? '', /action: must be/);
    assert.equal(store.l7PoliciesFor(api)[0]?.action, 'DENY');
    stream.send(L7_AUTHORIZATION_TYPE_URL, [], ['demo/deny-all']);
    await eventually(() => assert.deepEqual(store.l7PoliciesFor(api), []));

    // ServiceTraffic: held, a bad field is a NACK that keeps it, a removal drops it.
    assert.deepEqual(store.trafficFor(api), traffic);
    const badTraffic = { ...traffic, rateLimit: { ...traffic.rateLimit, total: { requestsPerSecond: -1, burst: 1 } } };
    const nonce2 = stream.send(SERVICE_TRAFFIC_TYPE_URL, [
      { name: trafficKey, body: new TextEncoder().encode(JSON.stringify(badTraffic)) },
    ]);
    await eventually(() => assert.ok(stream.requests.some((r) => r.responseNonce === nonce2)));
    assert.match(
      stream.requests.find((r) => r.responseNonce === nonce2)?.errorDetail?.message ?? '',
      /rateLimit\.total\.requestsPerSecond: must be/,
    );
    assert.deepEqual(store.trafficFor(api), traffic);
    stream.send(SERVICE_TRAFFIC_TYPE_URL, [], [trafficKey]);
    await eventually(() => assert.equal(store.trafficFor(api), undefined));
  } finally {
    link.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
