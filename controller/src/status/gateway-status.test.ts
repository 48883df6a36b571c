import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayStatus, gatewayClassConditions } from './gateway-status.ts';

const MANAGED = { 'gateway.istio.io/managed': 'istio.io-mesh-controller', 'gateway.networking.k8s.io/gateway-name': 'wp' };

function gateway(
  listeners: unknown[] = [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
  className = 'istio-waypoint',
): Record<string, unknown> {
  return {
    kind: 'Gateway',
    metadata: { name: 'wp', namespace: 'mesh', uid: 'u', generation: 2 },
    spec: { gatewayClassName: className, listeners },
  };
}
const service = (clusterIP: string, labels: Record<string, string> = MANAGED): Record<string, unknown> => ({
  kind: 'Service',
  metadata: { name: 'wp', namespace: 'mesh', labels },
  spec: { clusterIP, clusterIPs: clusterIP === '' ? [] : [clusterIP] },
});
const slice = (ready: boolean[]): Record<string, unknown> => ({
  kind: 'EndpointSlice',
  metadata: { name: 'wp-abc', namespace: 'mesh', labels: { 'kubernetes.io/service-name': 'wp' } },
  endpoints: ready.map((r) => ({ conditions: { ready: r } })),
});

function summary(s: GatewayStatus): string[] | undefined {
  return s.conditions('mesh/wp')?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
}

test('a waypoint goes Accepted, then AddressNotAssigned, Pending, and Programmed with its addresses once a pod is ready', () => {
  const s = new GatewayStatus();
  assert.equal(s.gateway('upsert', gateway()), 'mesh/wp');
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/AddressNotAssigned']);
  assert.equal(s.conditions('mesh/wp')?.addresses, null);
  assert.equal(s.conditions('mesh/wp')?.generation, 2);

  assert.equal(s.service('upsert', service('10.96.0.50')), 'mesh/wp');
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/Pending']);
  assert.equal(s.endpointSlice('upsert', slice([false])), 'mesh/wp');
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/Pending']);

  s.endpointSlice('upsert', slice([true, false]));
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=True/Programmed']);
  assert.deepEqual(s.conditions('mesh/wp')?.addresses, [
    { type: 'IPAddress', value: '10.96.0.50' },
    { type: 'Hostname', value: 'wp.mesh.svc.cluster.local' },
  ]);

  // The pod goes away: not programmed any more; the Service going removes the addresses.
  s.endpointSlice('delete', slice([]));
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/Pending']);
  s.service('delete', service('10.96.0.50'));
  assert.equal(s.conditions('mesh/wp')?.addresses, null);
});

test('an invalid spec is not accepted (reason and field), and not programmed', () => {
  const s = new GatewayStatus();
  s.gateway('upsert', gateway([{ name: 'mesh', port: 15001, protocol: 'HBONE' }]));
  s.service('upsert', service('10.96.0.50'));
  s.endpointSlice('upsert', slice([true]));
  const c = s.conditions('mesh/wp')?.conditions;
  assert.deepEqual(summary(s), ['Accepted=False/ListenersNotValid', 'Programmed=False/Invalid']);
  assert.match(c?.[0]?.message ?? '', /^spec\.listeners\[0\]\.port: .*must be on port 15008, got 15001/);
});

test('a deploy problem (a same-named object that is not ours) shows as Programmed=False/Invalid until it clears', () => {
  const s = new GatewayStatus();
  s.gateway('upsert', gateway());
  assert.equal(s.deployProblem('mesh/wp', 'Deployment mesh/wp exists and is not owned by this Gateway'), 'mesh/wp');
  assert.equal(s.deployProblem('mesh/wp', 'Deployment mesh/wp exists and is not owned by this Gateway'), undefined, 'unchanged');
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/Invalid']);
  assert.match(s.conditions('mesh/wp')?.conditions[1]?.message ?? '', /not owned by this Gateway/);
  assert.equal(s.deployProblem('mesh/wp', undefined), 'mesh/wp');
  assert.deepEqual(summary(s), ['Accepted=True/Accepted', 'Programmed=False/AddressNotAssigned']);
});

test('other classes, other Services and deleted Gateways are left alone', () => {
  const s = new GatewayStatus();
  assert.equal(s.gateway('upsert', gateway(undefined, 'istio')), undefined);
  assert.equal(s.conditions('mesh/wp'), undefined);
  s.gateway('upsert', gateway());
  assert.equal(s.service('upsert', service('10.96.0.7', {})), undefined, 'a user Service named like the Gateway is not its address');
  assert.equal(s.conditions('mesh/wp')?.addresses, null);
  assert.equal(s.gateway('delete', gateway()), undefined);
  assert.equal(s.conditions('mesh/wp'), undefined);
});

test('GatewayClass: ours is Accepted; another controller’s is not ours to judge', () => {
  assert.deepEqual(
    gatewayClassConditions({ spec: { controllerName: 'istio.io/mesh-controller' } })?.map((c) => `${c.type}=${c.status}`),
    ['Accepted=True'],
  );
  assert.equal(gatewayClassConditions({ spec: { controllerName: 'example.com/other' } }), undefined);
});
