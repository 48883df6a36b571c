import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADDRESS_TYPE_URL, silentLogger } from '@ambit/core';
import { encodeAddress } from '@ambit/core/codec';
import { encodeL7Authorization, L7_AUTHORIZATION_TYPE_URL } from '@ambit/core/policy';
import { ROUTE_SET_TYPE_URL, encodeRouteSet, routeSetKey, type RouteSet } from '@ambit/core/routes';
import { eventually } from '@ambit/core/testing';
import { SERVICE_TRAFFIC_TYPE_URL, encodeServiceTraffic, type ServiceTraffic } from '@ambit/core/traffic';
import { startFakeCa } from '@ambit/core/testing/fake-ca';
import { createFakeXdsServer } from '@ambit/core/testing/fake-xds-server';
import { meshService, meshWorkload, waypointRef } from '../testing/mesh-fixtures.ts';
import { startWaypoint } from './app.ts';

// The whole waypoint in-process against the fake CA and the fake xDS server (real gRPC servers on unix sockets), with
// its own ports on 127.0.0.1:0: certificate, first config, readiness, config dump, metrics, drain.

const api = meshService('demo', 'api', '10.96.0.10', [{ port: 80, targetPort: 8080, appProtocol: 'HTTP11' }], {
  waypoint: waypointRef('demo', 'waypoint'),
});
const v1 = meshService('demo', 'api-v1', '10.96.0.11', [{ port: 80, targetPort: 8080 }]);
const v2 = meshService('demo', 'api-v2', '10.96.0.12', [{ port: 80, targetPort: 8080 }]);
const pod1 = meshWorkload('demo', 'api-v1-a', '10.244.1.5', [{ service: api }, { service: v1 }]);
const pod2 = meshWorkload('demo', 'api-v2-a', '10.244.2.5', [{ service: api }, { service: v2 }]);
const routes: RouteSet = {
  parent: { kind: 'Service', namespace: 'demo', hostname: api.hostname },
  rules: [
    {
      route: 'demo/canary',
      kind: 'HTTPRoute',
      ruleIndex: 0,
      filters: [],
      backends: [
        { weight: 90, service: { namespace: 'demo', hostname: v1.hostname, port: 80 }, filters: [] },
        { weight: 10, service: { namespace: 'demo', hostname: v2.hostname, port: 80 }, filters: [] },
      ],
    },
  ],
  entries: [{ match: { headers: [], queryParams: [] }, rule: 0 }],
};
const apiTraffic: ServiceTraffic = {
  service: { namespace: 'demo', hostname: api.hostname },
  subsets: [],
  retryBudget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttlMs: 10_000 },
  rateLimit: { policy: 'demo/api-limit', total: { requestsPerSecond: 100, burst: 10 }, overrides: [] },
};

const get = async (url: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
};

test(
  'the waypoint gets its certificate and config, is ready only with both, dumps its config, and drains',
  { timeout: 30_000 },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ambit-wp-app-'));
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'not-yet\n');
    const ca = await startFakeCa({ listen: { path: join(dir, 'ca.sock') }, tokens: ['waypoint-token'] });
    const xds = await createFakeXdsServer({ socketPath: join(dir, 'xds.sock') });
    const local = { host: '127.0.0.1', port: 0 };
    const app = await startWaypoint({
      controllerTarget: xds.address,
      caTarget: ca.target,
      gateway: { namespace: 'demo', name: 'waypoint' },
      trustDomain: 'cluster.local',
      podName: 'waypoint-7d9f-x1',
      podIp: '127.0.0.1',
      serviceAccount: 'waypoint',
      caCredential: { file: tokenFile },
      hboneListen: local,
      metricsListen: local,
      readinessListen: local,
      adminListen: local,
      log: silentLogger(),
    });
    let stopped = false;
    try {
      const at = app.listening();
      assert.deepEqual(Object.keys(at).sort(), ['admin', 'hbone', 'metrics', 'readiness']);
      const ready = `http://${at['readiness']}/healthz/ready`;
      assert.deepEqual(await get(ready), { status: 503, body: 'not ready, pending: certificate, config sync\n' });

      // Config first: still not ready without a certificate.
      await eventually(() => assert.equal(xds.streams[0]?.requests.length, 4));
      const stream = xds.streams[0];
      assert.ok(stream !== undefined);
      assert.deepEqual(stream.metadata.get('authorization'), ['Bearer not-yet']);
      stream.send(
        ADDRESS_TYPE_URL,
        [api, v1, v2]
          .map((s) => ({ name: `demo/${s.hostname}`, body: encodeAddress({ service: s }) }))
          .concat([pod1, pod2].map((w) => ({ name: w.uid, body: encodeAddress({ workload: w }) }))),
      );
      stream.send(ROUTE_SET_TYPE_URL, [{ name: routeSetKey(routes.parent), body: encodeRouteSet(routes) }]);
      stream.send(SERVICE_TRAFFIC_TYPE_URL, [{ name: `demo/${api.hostname}`, body: encodeServiceTraffic(apiTraffic) }]);
      // No L7 policies yet is an answer too: readiness waits for it, then for the certificate only.
      await eventually(() => assert.deepEqual(app.pending(), ['certificate', 'config sync']));
      // A dry-run policy: held and dumped, never in the way of the requests below.
      const audit = {
        name: 'audit',
        namespace: 'demo',
        action: 'DENY' as const,
        dryRun: true,
        targets: [{ kind: 'Gateway' as const, namespace: 'demo', name: 'waypoint' }],
        rules: [{ from: [], to: [], when: [] }],
      };
      stream.send(L7_AUTHORIZATION_TYPE_URL, [{ name: 'demo/audit', body: encodeL7Authorization(audit) }]);
      await eventually(() => assert.deepEqual(app.pending(), ['certificate']));
      assert.equal((await get(ready)).status, 503);

      // The token file is read again for each fetch: the CA's retry with the right token succeeds.
      await writeFile(tokenFile, 'waypoint-token\n');
      await eventually(async () => assert.deepEqual(await get(ready), { status: 200, body: 'ready\n' }), 10_000);
      assert.ok(app.inputs.cert() !== undefined);
      assert.ok(
        ca.requested.every((id) => id === 'spiffe://cluster.local/ns/demo/sa/waypoint'),
        'it asks for its own identity only',
      );
      assert.ok(app.inputs.roots().includes(ca.rootPem));

      const dump = JSON.parse((await get(`http://${at['admin']}/config_dump`)).body) as Record<string, unknown>;
      assert.deepEqual(dump['version'], { component: 'waypoint', version: '0.1.0' });
      assert.deepEqual((dump['config'] as Record<string, unknown>)['gateway'], 'demo/waypoint');
      assert.equal((dump['config'] as Record<string, unknown>)['configSynced'], true);
      assert.deepEqual((dump['listeners'] as Array<{ name: string }>).map((l) => l.name).sort(), [
        'admin',
        'hbone',
        'metrics',
        'readiness',
      ]);
      assert.deepEqual(
        (dump['authorizations'] as Array<{ name: string }>).map((p) => p.name),
        ['audit'],
      );
      const dumped = dump['routes'] as Array<{ name: string; appliesTo: string[]; rules: unknown[] }>;
      assert.deepEqual(
        dumped.map((r) => [r.name, r.appliesTo]),
        [['Service/demo/api.demo.svc.cluster.local', ['api.demo.svc.cluster.local:80']]],
      );
      const backends = dump['backends'] as Array<{ hostname: string; served: boolean; ports: Array<{ port: number; protocol: string }> }>;
      assert.deepEqual(
        backends.map((b) => [b.hostname, b.served, b.ports.map((p) => `${p.port}/${p.protocol}`)]),
        [
          ['api.demo.svc.cluster.local', true, ['80/http']],
          ['api-v1.demo.svc.cluster.local', false, ['80/sniffed']],
          ['api-v2.demo.svc.cluster.local', false, ['80/sniffed']],
        ],
      );
      const endpoints = dump['endpoints'] as Array<{ service: string; port: number; endpoints: Array<{ address: string; port: number }> }>;
      assert.deepEqual(
        endpoints.map((e) => [e.service, e.port, e.endpoints.map((x) => `${x.address}:${x.port}`)]),
        [
          ['api.demo.svc.cluster.local', 80, ['10.244.1.5:8080', '10.244.2.5:8080']],
          ['api-v1.demo.svc.cluster.local', 80, ['10.244.1.5:8080']],
          ['api-v2.demo.svc.cluster.local', 80, ['10.244.2.5:8080']],
        ],
      );
      assert.deepEqual(dump['traffic'], [apiTraffic]);
      const certs = dump['certificates'] as Array<{ identity: string; state: string; certChain: unknown[] }>;
      assert.equal(certs[0]?.identity, 'spiffe://cluster.local/ns/demo/sa/waypoint');
      assert.equal(certs[0]?.state, 'Available');
      assert.equal(certs[0]?.certChain.length, 1);
      assert.equal((await get(`http://${at['admin']}/healthz`)).status, 200);

      const metrics = await get(`http://${at['metrics']}/stats/prometheus`);
      assert.match(metrics.body, /^istio_build\{component="proxy",tag="0\.1\.0"\} 1$/m);
      assert.match(metrics.body, /^# TYPE istio_requests_total counter$/m);

      // Drain: readiness fails at once, and every port closes.
      const done = app.shutdown(200);
      stopped = true;
      await done;
      await assert.rejects(fetch(ready));
    } finally {
      if (!stopped) await app.shutdown(0);
      await xds.close();
      await ca.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
