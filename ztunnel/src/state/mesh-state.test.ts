import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayAddress, Service, Workload } from '@ambit/core';
import { decodeCheckedAddress, encodeAddress, type AddressResource } from '@ambit/core/codec';
import { createMeshState, type Destination, type MeshState } from './mesh-state.ts';

// Fixtures go through the wire codec, as the controller's resources reach ztunnel.
const TD = 'cluster.local';
const WP_HOST = 'waypoint.demo.svc.cluster.local';
const byHostname: GatewayAddress = { destination: { kind: 'hostname', namespace: 'demo', hostname: WP_HOST }, hboneMtlsPort: 15008 };

function workload(name: string, addresses: string[], extra: Partial<Workload> = {}): Workload {
  return {
    uid: `Kubernetes//Pod/demo/${name}`,
    name,
    namespace: 'demo',
    addresses,
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: TD,
    serviceAccount: name,
    node: 'n1',
    canonicalName: name,
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: name,
    services: {},
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...extra,
  };
}

function service(name: string, vip: string, extra: Partial<Service> = {}): Service {
  return {
    name,
    namespace: 'demo',
    hostname: `${name}.demo.svc.cluster.local`,
    addresses: [{ network: '', address: vip }],
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
    subjectAltNames: [],
    ...extra,
  };
}

const echoKey = 'demo/echo.demo.svc.cluster.local';
const wpKey = `demo/${WP_HOST}`;
const echoPort = [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' as const }];
const wpPort = [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' as const }];

const client = workload('client', ['10.0.0.1']);
const echo1 = workload('echo-1', ['10.0.1.1'], { services: { [echoKey]: echoPort } });
const echo2 = workload('echo-2', ['10.0.1.2'], { services: { [echoKey]: echoPort }, waypoint: byHostname });
const { waypoint: _unused, ...echo2Direct } = echo2;
const wp1 = workload('waypoint-a', ['10.0.9.1', 'fd00::9:1'], { serviceAccount: 'waypoint', services: { [wpKey]: wpPort } });
const wp2 = workload('waypoint-b', ['10.0.9.2'], { serviceAccount: 'waypoint', services: { [wpKey]: wpPort } });
const wpService = service('waypoint', '10.96.0.9', { ports: wpPort, subjectAltNames: ['spiffe://cluster.local/ns/demo/sa/extra'] });
const echo = service('echo', '10.96.0.1', { waypoint: byHostname });

function stateWith(...resources: AddressResource[]): MeshState {
  const state = createMeshState('ambit-system');
  apply(state, ...resources);
  return state;
}

function apply(state: MeshState, ...resources: AddressResource[]): void {
  const upserted = new Map<string, AddressResource>();
  for (const r of resources) {
    const name = 'workload' in r ? r.workload.uid : `${r.service.namespace}/${r.service.hostname}`;
    upserted.set(name, decodeCheckedAddress(encodeAddress(r)));
  }
  state.applyAddresses(upserted, []);
}

function viaWaypoint(d: Destination): Extract<Destination, { kind: 'waypoint' }> {
  assert.equal(d.kind, 'waypoint', JSON.stringify(d));
  return d as Extract<Destination, { kind: 'waypoint' }>;
}

const full = (): MeshState =>
  stateWith(
    { workload: client },
    { workload: echo1 },
    { workload: echo2 },
    { workload: wp1 },
    { workload: wp2 },
    { service: wpService },
    { service: echo },
  );

describe('mesh state: waypoints', () => {
  it("a Service VIP whose Service names a waypoint goes to a waypoint pod's 15008, expecting the waypoint's identity", () => {
    const d = viaWaypoint(full().resolve('10.96.0.1', 80, client));
    assert.equal(d.waypoint.name, 'waypoint-a');
    assert.deepEqual(d.nextHop, { host: '10.0.9.1', port: 15008 });
    assert.deepEqual(d.identities, ['spiffe://cluster.local/ns/demo/sa/waypoint', 'spiffe://cluster.local/ns/demo/sa/extra']);
    assert.equal(d.service?.name, 'echo', 'the addressed Service is kept for metrics (destination_service)');
  });

  it('round-robins over the ready waypoint pods and never load-balances the Service itself', () => {
    const state = full();
    const picks = Array.from({ length: 4 }, () => viaWaypoint(state.resolve('10.96.0.1', 80, client)).waypoint.name);
    assert.deepEqual(picks, ['waypoint-a', 'waypoint-b', 'waypoint-a', 'waypoint-b']);
  });

  it('skips waypoint pods that are not ready, not HBONE or have no address', () => {
    const state = full();
    apply(state, { workload: { ...wp1, status: 'UNHEALTHY' } });
    for (let i = 0; i < 3; i++) assert.equal(viaWaypoint(state.resolve('10.96.0.1', 80, client)).waypoint.name, 'waypoint-b');
    apply(state, { workload: { ...wp2, tunnelProtocol: 'NONE' } });
    assert.equal(state.resolve('10.96.0.1', 80, client).kind, 'no-healthy-waypoint');
  });

  it('picks the address of the original destination family (an IPv6 VIP reaches the waypoint over IPv6)', () => {
    const state = full();
    apply(state, { service: { ...echo, addresses: [{ network: '', address: 'fd00::96:1' }] } });
    assert.deepEqual(viaWaypoint(state.resolve('fd00::96:1', 80, client)).nextHop, { host: 'fd00::9:1', port: 15008 });
  });

  it('refuses, never bypasses, when the waypoint has no ready pod or is not known', () => {
    const noPods = stateWith({ workload: client }, { workload: echo1 }, { service: wpService }, { service: echo });
    const d = noPods.resolve('10.96.0.1', 80, client);
    assert.equal(d.kind, 'no-healthy-waypoint');
    assert.match(d.kind === 'no-healthy-waypoint' ? d.reason : '', /waypoint demo\/waypoint\.demo\.svc\.cluster\.local has no ready pod/);
    assert.equal(d.kind === 'no-healthy-waypoint' ? d.service?.name : '', 'echo');
    const unknown = stateWith({ workload: client }, { workload: echo1 }, { service: echo });
    const u = unknown.resolve('10.96.0.1', 80, client);
    assert.equal(u.kind, 'no-healthy-waypoint');
    assert.match(
      u.kind === 'no-healthy-waypoint' ? u.reason : '',
      /waypoint service demo\/waypoint\.demo\.svc\.cluster\.local is not known/,
    );
  });

  it('a pod-IP destination whose workload names a waypoint goes through it; one without goes straight to the pod', () => {
    const state = full();
    const d = viaWaypoint(state.resolve('10.0.1.2', 8080, client));
    assert.equal(d.service, undefined);
    assert.equal(d.waypoint.serviceAccount, 'waypoint');
    const direct = state.resolve('10.0.1.1', 8080, client);
    assert.equal(direct.kind, 'workload');
    assert.equal(direct.kind === 'workload' ? direct.workload.name : '', 'echo-1');
  });

  it('a Service without a waypoint load-balances as before, even to an endpoint that has a workload waypoint (Istio)', () => {
    const state = full();
    apply(state, { service: service('echo', '10.96.0.1') });
    const names = Array.from({ length: 2 }, () => {
      const d = state.resolve('10.96.0.1', 80, client);
      assert.equal(d.kind, 'workload');
      return d.kind === 'workload' ? d.workload.name : '';
    });
    assert.deepEqual(names.sort(), ['echo-1', 'echo-2']);
  });

  it("a waypoint's own traffic never goes back into it: Service traffic is load-balanced, pod traffic goes direct", () => {
    const state = full();
    const svc = state.resolve('10.96.0.1', 80, wp1);
    assert.equal(svc.kind, 'workload');
    assert.equal(svc.kind === 'workload' ? svc.port : 0, 8080);
    const pod = state.resolve('10.0.1.2', 8080, wp2);
    assert.equal(pod.kind, 'workload');
    assert.equal(pod.kind === 'workload' ? pod.workload.name : '', 'echo-2');
  });

  it('a waypoint named by address: its pod directly, or a Service VIP resolved to that Service’s pods', () => {
    const byPod: GatewayAddress = { destination: { kind: 'address', network: '', address: '10.0.9.2' }, hboneMtlsPort: 15008 };
    const state = full();
    apply(state, { service: { ...echo, waypoint: byPod } });
    const d = viaWaypoint(state.resolve('10.96.0.1', 80, client));
    assert.deepEqual([d.waypoint.name, d.nextHop.host], ['waypoint-b', '10.0.9.2']);
    assert.deepEqual(d.identities, ['spiffe://cluster.local/ns/demo/sa/waypoint']);
    const byVip: GatewayAddress = { destination: { kind: 'address', network: '', address: '10.96.0.9' }, hboneMtlsPort: 15008 };
    apply(state, { service: { ...echo, waypoint: byVip } });
    const v = viaWaypoint(state.resolve('10.96.0.1', 80, client));
    assert.ok(['10.0.9.1', '10.0.9.2'].includes(v.nextHop.host), `a pod address, not the VIP: ${v.nextHop.host}`);
    const nowhere: GatewayAddress = { destination: { kind: 'address', network: '', address: '10.0.99.99' }, hboneMtlsPort: 15008 };
    apply(state, { service: { ...echo, waypoint: nowhere } });
    assert.equal(state.resolve('10.96.0.1', 80, client).kind, 'no-healthy-waypoint');
  });

  it('a waypoint added later applies to the next resolution (decisions are per connection)', () => {
    const state = stateWith({ workload: client }, { workload: echo1 }, { service: service('echo', '10.96.0.1') });
    assert.equal(state.resolve('10.96.0.1', 80, client).kind, 'workload');
    apply(state, { workload: wp1 }, { service: wpService }, { service: echo });
    assert.equal(viaWaypoint(state.resolve('10.96.0.1', 80, client)).waypoint.name, 'waypoint-a');
  });
});

describe('mesh state: resolution without waypoints', () => {
  it('a Service VIP round-robins over healthy endpoints with their target ports; none healthy → no-healthy-upstream', () => {
    const state = stateWith(
      { workload: client },
      { workload: echo1 },
      { workload: echo2Direct },
      { service: service('echo', '10.96.0.1') },
    );
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const d = state.resolve('10.96.0.1', 80, client);
      assert.equal(d.kind, 'workload');
      if (d.kind === 'workload') {
        seen.add(d.workload.name);
        assert.equal(d.port, 8080);
      }
    }
    assert.deepEqual([...seen].sort(), ['echo-1', 'echo-2']);
    apply(state, { workload: { ...echo1, status: 'UNHEALTHY' } }, { workload: { ...echo2Direct, status: 'UNHEALTHY' } });
    assert.equal(state.resolve('10.96.0.1', 80, client).kind, 'no-healthy-upstream');
  });

  it('an unknown address passes through', () => {
    assert.deepEqual(full().resolve('192.0.2.1', 443, client), { kind: 'passthrough' });
  });
});
