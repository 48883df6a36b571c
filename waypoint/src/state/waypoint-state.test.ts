import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AddressResource } from '@ambit/core/codec';
import { l7Policy, l7Rule } from '@ambit/core/testing/l7-policies';
import type { RouteSet } from '@ambit/core/routes';
import { routeSetKey } from '@ambit/core/routes';
import { meshService, meshWorkload, waypointRef } from '../../testing/mesh-fixtures.ts';
import { createWaypointStore } from './waypoint-state.ts';

const GW = { namespace: 'demo', name: 'waypoint' };
const served = meshService('demo', 'api', '10.96.0.10', [{ port: 80, targetPort: 8080 }, { port: 9000 }], {
  waypoint: waypointRef('demo', 'waypoint'),
});
const other = meshService('demo', 'db', '10.96.0.11', [{ port: 5432 }], { waypoint: waypointRef('demo', 'another') });
const plain = meshService('demo', 'plain', 'fd00::b', [{ port: 80 }]);

const resources = (...items: AddressResource[]): Map<string, AddressResource> =>
  new Map(items.map((r) => ['workload' in r ? r.workload.uid : `${r.service.namespace}/${r.service.hostname}`, r]));

const routeSet = (parent: RouteSet['parent']): RouteSet => ({ parent, rules: [], entries: [] });

test('look-ups by VIP (any IPv6 spelling), hostname and pod IP cover every address, served or not', () => {
  const store = createWaypointStore(GW);
  const pod = meshWorkload('demo', 'api-1', '10.244.1.5', [{ service: served }]);
  store.applyAddresses(resources({ service: served }, { service: other }, { service: plain }, { workload: pod }), []);
  assert.equal(store.serviceByVip('10.96.0.10'), served);
  assert.equal(store.serviceByVip('10.96.0.11'), other);
  assert.equal(store.serviceByVip('fd00:0:0::b'), plain);
  assert.equal(store.serviceByHostname('demo', 'db.demo.svc.cluster.local'), other);
  assert.equal(store.workloadByIp('10.244.1.5'), pod);
  assert.equal(store.workloadByIp('10.244.1.6'), undefined);
  assert.equal(store.serves(served), true);
  assert.equal(store.serves(other), false);
  assert.equal(store.serves(plain), false);
  const g = store.generation();
  store.applyAddresses(new Map(), ['demo/plain.demo.svc.cluster.local', pod.uid]);
  assert.equal(store.serviceByVip('fd00::b'), undefined);
  assert.equal(store.workloadByIp('10.244.1.5'), undefined);
  assert.equal(store.generation(), g + 1);
});

test('endpoints: healthy pods only, target ports resolved per pod, in a stable order, recomputed on change', () => {
  const store = createWaypointStore(GW);
  const a = meshWorkload('demo', 'api-b', '10.244.1.7', [{ service: served }]);
  const b = meshWorkload('demo', 'api-a', '10.244.1.6', [{ service: served, ports: [{ servicePort: 80, targetPort: 8081 }] }]);
  const sick = meshWorkload('demo', 'api-c', '10.244.1.8', [{ service: served }], { status: 'UNHEALTHY' });
  // A named targetPort this pod does not define: it cannot take that port.
  const noPort = meshWorkload('demo', 'api-d', '10.244.1.9', [{ service: served, ports: [{ servicePort: 80, targetPort: 0 }] }]);
  store.applyAddresses(resources({ service: served }, { workload: a }, { workload: b }, { workload: sick }, { workload: noPort }), []);
  const eps = store.endpoints(served, 80);
  assert.deepEqual(
    eps.map((e) => [e.workload.name, e.port]),
    [
      ['api-a', 8081],
      ['api-b', 8080],
    ],
  );
  assert.equal(store.endpoints(served, 80), eps, 'the same list while nothing changed');
  assert.deepEqual(
    store.endpoints(served, 9000).map((e) => [e.workload.name, e.port]),
    [
      ['api-a', 9000],
      ['api-b', 9000],
      ['api-d', 9000],
    ],
    'a port the pod map does not list falls back to the Service port',
  );
  assert.deepEqual(store.endpoints(served, 81), []);
  store.applyAddresses(resources({ workload: { ...a, status: 'UNHEALTHY' } }), []);
  assert.deepEqual(
    store.endpoints(served, 80).map((e) => e.workload.name),
    ['api-a'],
  );
});

test('routesFor: the Service port set, else the Service set, else the Gateway set — only for Services that name this waypoint', () => {
  const store = createWaypointStore(GW);
  store.applyAddresses(resources({ service: served }, { service: other }), []);
  const gw = routeSet({ kind: 'Gateway', namespace: 'demo', name: 'waypoint' });
  const svc = routeSet({ kind: 'Service', namespace: 'demo', hostname: served.hostname });
  const svc80 = routeSet({ kind: 'Service', namespace: 'demo', hostname: served.hostname, port: 80 });
  const otherSet = routeSet({ kind: 'Service', namespace: 'demo', hostname: other.hostname });
  assert.equal(store.routesFor(served, 80), undefined);
  store.applyRouteSets(new Map([[routeSetKey(gw.parent), gw]]), []);
  assert.equal(store.routesFor(served, 80), gw);
  store.applyRouteSets(
    new Map([
      [routeSetKey(svc.parent), svc],
      [routeSetKey(svc80.parent), svc80],
      [routeSetKey(otherSet.parent), otherSet],
    ]),
    [],
  );
  assert.equal(store.routesFor(served, 80), svc80);
  assert.equal(store.routesFor(served, 9000), svc);
  assert.equal(store.routesFor(other, 5432), undefined, 'db names another waypoint: its routes are not ours to apply');
  store.applyRouteSets(new Map(), [routeSetKey(svc80.parent), routeSetKey(svc.parent)]);
  assert.equal(store.routesFor(served, 80), gw);
  assert.deepEqual(
    store.routeSets().map(([name]) => name),
    ['Gateway/demo/waypoint', 'Service/demo/db.demo.svc.cluster.local'],
  );
});

test('a waypoint named by address counts when that address is this waypoint Service’s VIP', () => {
  const store = createWaypointStore(GW);
  const own = meshService('demo', 'waypoint', '10.96.0.99', [{ port: 15008 }]);
  const byAddress = meshService('demo', 'web', '10.96.0.12', [{ port: 80 }], {
    waypoint: { destination: { kind: 'address', network: '', address: '10.96.0.99' }, hboneMtlsPort: 15008 },
  });
  store.applyAddresses(resources({ service: own }, { service: byAddress }), []);
  assert.equal(store.serves(byAddress), true);
  assert.equal(
    store.serves({
      ...byAddress,
      waypoint: { destination: { kind: 'address', network: '', address: '10.96.0.98' }, hboneMtlsPort: 15008 },
    }),
    false,
  );
});

test("l7PoliciesFor: this Gateway's policies, then the Service's own (each once), re-indexed only after an L7 change", () => {
  const store = createWaypointStore(GW);
  const svc = { kind: 'Service', namespace: 'demo', hostname: served.hostname } as const;
  const gw = l7Policy('demo', 'gw', 'ALLOW', [l7Rule()]);
  const both = l7Policy('demo', 'both', 'DENY', [l7Rule()], { targets: [svc, { kind: 'Gateway', namespace: 'demo', name: 'waypoint' }] });
  const own = l7Policy('demo', 'own', 'ALLOW', [l7Rule()], { targets: [svc] });
  const elsewhere = l7Policy('demo', 'elsewhere', 'ALLOW', [l7Rule()], {
    targets: [{ kind: 'Gateway', namespace: 'demo', name: 'another' }],
  });
  store.applyL7Authorizations(new Map([gw, both, own, elsewhere].map((p) => [`${p.namespace}/${p.name}`, p])), []);
  const names = (s: typeof served | undefined): string[] => store.l7PoliciesFor(s).map((p) => p.name);
  assert.deepEqual(names(served), ['both', 'gw', 'own']);
  assert.deepEqual(names(other), ['both', 'gw']);
  assert.deepEqual(names(undefined), ['both', 'gw']);
  assert.equal(store.l7PoliciesFor(served), store.l7PoliciesFor(served), 'one list per Service, not one per request');
  // An address change does not touch the index; an L7 change does.
  const before = store.l7PoliciesFor(served);
  store.applyAddresses(resources({ service: plain }), []);
  assert.equal(store.l7PoliciesFor(served), before);
  store.applyL7Authorizations(new Map(), ['demo/gw']);
  assert.deepEqual(names(served), ['both', 'own']);
});
