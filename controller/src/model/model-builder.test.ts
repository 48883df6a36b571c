import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelBuilder } from './model-builder.ts';
import type { ModelDelta } from './model-types.ts';
import {
  authorizationPolicy,
  deploymentPod,
  gateway,
  namespace,
  NS,
  peerAuthentication,
  pod,
  service,
} from '../../testing/kube-objects.ts';

const upsert = (b: ModelBuilder, object: unknown): ModelDelta => b.apply({ type: 'upsert', object });
const remove = (b: ModelBuilder, object: unknown): ModelDelta => b.apply({ type: 'delete', object });
const uid = (name: string, ns = NS): string => `Kubernetes//Pod/${ns}/${name}`;
const svcKey = (name: string, ns = NS): string => `${ns}/${name}.${ns}.svc.cluster.local`;

function assertEmpty(delta: ModelDelta, what: string): void {
  assert.deepEqual(
    delta,
    {
      workloads: { upserted: [], removed: [] },
      services: { upserted: [], removed: [] },
      authorizations: { upserted: [], removed: [] },
      policyStatus: [],
      errors: [],
    },
    what,
  );
}

/** A namespace with two Deployments (web, api), a Service per Deployment, a waypoint, and policies. */
function demoObjects(): Array<Record<string, unknown>> {
  return [
    namespace(NS, { 'istio.io/dataplane-mode': 'ambient' }),
    gateway('wp'),
    deploymentPod('web', 'a', { ips: ['10.244.1.2'] }),
    deploymentPod('web', 'b', { ips: ['10.244.2.2'], node: 'node2' }),
    deploymentPod('api', 'a', { ips: ['10.244.1.3'], serviceAccount: 'api' }),
    service('web', { clusterIP: '10.96.0.2' }),
    service('api', { clusterIP: '10.96.0.3', labels: { 'istio.io/use-waypoint': 'wp' } }),
    authorizationPolicy('api-allow', { selector: { matchLabels: { app: 'api' } }, rules: [{ from: [{ source: { namespaces: [NS] } }] }] }),
    authorizationPolicy('ns-deny', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['22'] } }] }] }),
    peerAuthentication('strict', { mtls: { mode: 'STRICT' } }),
  ];
}

function demoBuilder(): ModelBuilder {
  const b = new ModelBuilder();
  for (const o of demoObjects()) assert.deepEqual(upsert(b, o).errors, [], JSON.stringify(o));
  return b;
}

test('builder: the demo namespace builds a consistent snapshot, sorted by key', () => {
  const snap = demoBuilder().snapshot();
  assert.deepEqual(
    snap.workloads.map((w) => w.uid),
    [uid('api-3f9c8d7b6-a'), uid('web-3f9c8d7b6-a'), uid('web-3f9c8d7b6-b')],
  );
  assert.deepEqual(
    snap.services.map((s) => `${s.namespace}/${s.hostname}`),
    [svcKey('api'), svcKey('web')],
  );
  assert.deepEqual(
    snap.authorizations.map((a) => `${a.namespace}/${a.name}`),
    ['ambit-system/istio_converted_static_strict', `${NS}/api-allow`, `${NS}/ns-deny`],
  );
  const api = snap.workloads[0];
  assert.equal(api?.tunnelProtocol, 'HBONE');
  assert.deepEqual(api?.authorizationPolicies, ['ambit-system/istio_converted_static_strict', `${NS}/api-allow`]);
  assert.deepEqual(Object.keys(api?.services ?? {}), [svcKey('api')]);
  assert.equal(snap.services[0]?.waypoint?.hboneMtlsPort, 15008);
  assert.equal(snap.services[1]?.waypoint, undefined);
});

// Re-applying any unchanged object yields an empty delta.
for (const o of demoObjects()) {
  const meta = o['metadata'] as { name: string };
  test(`builder: unchanged re-apply of ${String(o['kind'])} ${meta.name} yields an empty delta`, () => {
    const b = demoBuilder();
    assertEmpty(upsert(b, structuredClone(o)), 're-apply');
  });
}

test('builder: a pod update yields exactly one upserted workload', () => {
  const b = demoBuilder();
  const delta = upsert(b, deploymentPod('web', 'a', { ips: ['10.244.1.2'], ready: false }));
  assert.deepEqual(
    delta.workloads.upserted.map((w) => [w.uid, w.status]),
    [[uid('web-3f9c8d7b6-a'), 'UNHEALTHY']],
  );
  assert.deepEqual(delta.workloads.removed, []);
  assert.deepEqual(delta.services, { upserted: [], removed: [] });
  assert.deepEqual(delta.authorizations, { upserted: [], removed: [] });
});

test('builder: a pod gets a workload once it has an IP, and loses it when it finishes', () => {
  const b = demoBuilder();
  assert.equal(upsert(b, pod('job-x', { ips: null, phase: 'Pending', ready: false })).workloads.upserted.length, 0);
  assert.deepEqual(
    upsert(b, pod('job-x', { ips: ['10.244.1.9'], phase: 'Running', ready: false })).workloads.upserted.map((w) => w.uid),
    [uid('job-x')],
  );
  assert.deepEqual(upsert(b, pod('job-x', { ips: ['10.244.1.9'], phase: 'Succeeded', ready: false })).workloads.removed, [uid('job-x')]);
});

test('builder: deletes yield removals and update what referenced the object', () => {
  const b = demoBuilder();
  assert.deepEqual(remove(b, deploymentPod('web', 'b')).workloads.removed, [uid('web-3f9c8d7b6-b')]);

  const svcDelta = remove(b, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS } });
  assert.deepEqual(svcDelta.services.removed, [svcKey('web')]);
  assert.deepEqual(
    svcDelta.workloads.upserted.map((w) => [w.name, w.services]),
    [['web-3f9c8d7b6-a', {}]],
  );

  const apDelta = remove(b, authorizationPolicy('api-allow', {}));
  assert.deepEqual(apDelta.authorizations.removed, [`${NS}/api-allow`]);
  assert.deepEqual(
    apDelta.workloads.upserted.map((w) => [w.name, w.authorizationPolicies]),
    [['api-3f9c8d7b6-a', ['ambit-system/istio_converted_static_strict']]],
  );
  assert.deepEqual(apDelta.policyStatus, []);

  // Deleting what is not there is not an error and changes nothing.
  assertEmpty(remove(b, pod('never-existed')), 'delete of unknown pod');
});

test('builder: a Service selecting pods from two Deployments, and a selector change touching only affected workloads', () => {
  const b = demoBuilder();
  const tier = upsert(b, service('backend', { clusterIP: '10.96.0.9', selector: { app: 'api' } }));
  assert.deepEqual(
    tier.workloads.upserted.map((w) => w.name),
    ['api-3f9c8d7b6-a'],
  );
  assert.deepEqual(
    tier.services.upserted.map((s) => s.name),
    ['backend'],
  );

  // Widen the selector to both Deployments via a shared label: only web pods change (api already had it).
  for (const [name, ip, node] of [
    ['web-3f9c8d7b6-a', '10.244.1.2', 'node1'],
    ['web-3f9c8d7b6-b', '10.244.2.2', 'node2'],
  ] as const) {
    upsert(b, deploymentPod('web', name.slice(-1), { ips: [ip], node, labels: { tier: 'backend' } }));
  }
  upsert(b, deploymentPod('api', 'a', { ips: ['10.244.1.3'], serviceAccount: 'api', labels: { tier: 'backend' } }));
  const widened = upsert(b, service('backend', { clusterIP: '10.96.0.9', selector: { tier: 'backend' } }));
  assert.deepEqual(widened.workloads.upserted.map((w) => w.name).sort(), ['web-3f9c8d7b6-a', 'web-3f9c8d7b6-b']);
  assert.deepEqual(widened.services.upserted, [], 'the Service resource itself did not change');
  const snap = b.snapshot();
  for (const w of snap.workloads) assert.ok(svcKey('backend') in w.services, w.name);
});

test('builder: namespace label on/off switches workloads between HBONE and NONE live', () => {
  const b = demoBuilder();
  const off = upsert(b, namespace(NS, {}));
  assert.deepEqual(
    off.workloads.upserted.map((w) => w.tunnelProtocol),
    ['NONE', 'NONE', 'NONE'],
  );
  assert.deepEqual(off.services.upserted, []);
  const on = upsert(b, namespace(NS, { 'istio.io/dataplane-mode': 'ambient' }));
  assert.deepEqual(
    on.workloads.upserted.map((w) => w.tunnelProtocol),
    ['HBONE', 'HBONE', 'HBONE'],
  );
  // A pod that opts out stays out whatever the namespace says.
  upsert(b, pod('opt-out', { labels: { 'istio.io/dataplane-mode': 'none' } }));
  assert.equal(b.snapshot().workloads.find((w) => w.name === 'opt-out')?.tunnelProtocol, 'NONE');
});

test('builder: namespace waypoint label recomputes its Services; a missing Gateway is reported once, then resolved', () => {
  const b = new ModelBuilder();
  upsert(b, service('web'));
  upsert(b, pod('w', { labels: { app: 'web' } }));
  const dangling = upsert(b, namespace(NS, { 'istio.io/use-waypoint': 'ns-wp' }));
  assert.deepEqual(dangling.services.upserted, []);
  assert.deepEqual(
    dangling.errors.map((e) => [e.object, e.field]),
    [
      ['Pod demo/w', `metadata.labels[istio.io/use-waypoint] (on Namespace ${NS})`],
      ['Service demo/web', `metadata.labels[istio.io/use-waypoint] (on Namespace ${NS})`],
    ],
  );
  assert.match(dangling.errors[1]?.message ?? '', /Gateway demo\/ns-wp does not exist; no waypoint is used/);
  assertEmpty(upsert(b, namespace(NS, { 'istio.io/use-waypoint': 'ns-wp' })), 'the same problem is not re-reported');
  const created = upsert(b, gateway('ns-wp'));
  assert.deepEqual(
    created.services.upserted.map((s) => [s.name, s.waypoint?.destination]),
    [['web', { kind: 'hostname', namespace: NS, hostname: `ns-wp.${NS}.svc.cluster.local` }]],
  );
  // A service waypoint (the default) does not take pod-addressed traffic.
  assert.deepEqual(created.workloads.upserted, []);
  assert.deepEqual(created.errors, []);
  const deleted = remove(b, gateway('ns-wp'));
  assert.deepEqual(
    deleted.services.upserted.map((s) => s.waypoint),
    [undefined],
  );
  assert.equal(deleted.errors.length, 2);
  const optOut = upsert(b, namespace(NS, {}));
  assert.deepEqual(optOut.errors, []);
});

test('builder: AuthorizationPolicy selector changes move the reference between workloads; root selector applies everywhere', () => {
  const b = demoBuilder();
  const moved = upsert(b, authorizationPolicy('api-allow', { selector: { matchLabels: { app: 'web' } }, rules: [{}] }));
  assert.deepEqual(
    moved.authorizations.upserted.map((a) => a.name),
    ['api-allow'],
  );
  assert.deepEqual(moved.workloads.upserted.map((w) => w.name).sort(), ['api-3f9c8d7b6-a', 'web-3f9c8d7b6-a', 'web-3f9c8d7b6-b']);
  upsert(b, pod('elsewhere', { ns: 'prod', labels: { app: 'web' } }));
  const root = upsert(b, authorizationPolicy('mesh-web', { selector: { matchLabels: { app: 'web' } } }, { ns: 'ambit-system' }));
  assert.deepEqual(
    root.workloads.upserted.map((w) => w.uid),
    [uid('web-3f9c8d7b6-a'), uid('web-3f9c8d7b6-b'), uid('elsewhere', 'prod')],
  );
  assert.ok(root.workloads.upserted.every((w) => w.authorizationPolicies.includes('ambit-system/mesh-web')));
  // Namespace-scoped policies are not referenced from workloads.
  const nsWide = upsert(b, authorizationPolicy('ns-allow', { rules: [{}] }));
  assert.deepEqual(nsWide.workloads.upserted, []);
  assert.deepEqual(
    nsWide.authorizations.upserted.map((a) => a.scope),
    ['NAMESPACE'],
  );
});

test('builder: policy status is emitted on change only', () => {
  const b = new ModelBuilder();
  const http = authorizationPolicy('h', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  const first = upsert(b, http);
  assert.deepEqual(
    first.policyStatus.map((s) => [s.kind, s.namespace, s.name, s.status.reason]),
    [['AuthorizationPolicy', NS, 'h', 'UnsupportedValue']],
  );
  assert.deepEqual(upsert(b, http).policyStatus, []);
  const custom = upsert(b, authorizationPolicy('h', { action: 'CUSTOM', provider: { name: 'x' } }));
  assert.deepEqual(custom.authorizations.removed, [`${NS}/h`]);
  assert.equal(custom.policyStatus[0]?.status.accepted, false);
});

// Malformed objects are reported with object and field, never thrown.
const malformedCases: Array<{ name: string; object: unknown; object_: string; field: string }> = [
  { name: 'not an object', object: 'pod', object_: '<unknown kind> <unnamed>', field: '.' },
  { name: 'no apiVersion', object: { kind: 'Pod', metadata: { name: 'x' } }, object_: 'Pod x', field: 'apiVersion' },
  { name: 'no kind', object: { apiVersion: 'v1', metadata: { name: 'x' } }, object_: '<unknown kind> x', field: 'kind' },
  {
    name: 'pod with a bad IP list',
    object: { ...pod('bad'), status: { podIPs: [{}] } },
    object_: 'Pod demo/bad',
    field: 'status.podIPs[0].ip',
  },
  {
    name: 'policy with a bad port',
    object: authorizationPolicy('bad', { rules: [{ to: [{ operation: { ports: ['eighty'] } }] }] }),
    object_: 'AuthorizationPolicy demo/bad',
    field: 'spec.rules[0].to[0].operation.ports[0]',
  },
  {
    name: 'delete without a name',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: NS } },
    object_: 'Pod demo/<unnamed>',
    field: 'metadata.name',
  },
];
for (const c of malformedCases) {
  test(`builder: malformed input (${c.name}) is reported, not thrown`, () => {
    const b = demoBuilder();
    const before = b.snapshot();
    const delta = b.apply({ type: c.name.startsWith('delete') ? 'delete' : 'upsert', object: c.object });
    assert.deepEqual(
      delta.errors.map((e) => [e.object, e.field]),
      [[c.object_, c.field]],
    );
    assert.ok(delta.errors[0]?.message.includes(c.field));
    assert.deepEqual(b.snapshot(), before);
    assert.equal(b.invalidObjects, 1);
  });
}

test('builder: an invalid edit keeps the last good policy and says why in its status', () => {
  const b = demoBuilder();
  const delta = upsert(b, authorizationPolicy('api-allow', { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/99'] } }] }] }));
  assert.deepEqual(delta.authorizations, { upserted: [], removed: [] });
  assert.equal(delta.policyStatus[0]?.status.accepted, false);
  assert.equal(delta.policyStatus[0]?.status.reason, 'InvalidValue');
  assert.ok(b.snapshot().authorizations.some((a) => a.name === 'api-allow' && a.rules.length === 1));
});

test('builder: kinds it does not read are ignored without error', () => {
  const b = demoBuilder();
  for (const object of [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: NS } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NS } },
    { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'se', namespace: NS } },
    { apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'web', namespace: NS } },
  ]) {
    assertEmpty(upsert(b, object), object.kind);
  }
});

test('builder: CA lookups see pods by node and service account until they finish', () => {
  const b = demoBuilder();
  assert.equal(b.hasServiceAccountOnNode(NS, 'api', 'node1'), true);
  assert.equal(b.hasServiceAccountOnNode(NS, 'api', 'node2'), false);
  assert.equal(b.hasServiceAccountOnNode(NS, 'default', 'node2'), true);
  assert.equal(b.hasServiceAccountOnNode('prod', 'api', 'node1'), false);
  // A pod without an IP yet is already scheduled: its node may fetch its certificate.
  upsert(b, pod('starting', { ips: null, phase: 'Pending', node: 'node3', serviceAccount: 'batch' }));
  assert.equal(b.hasServiceAccountOnNode(NS, 'batch', 'node3'), true);
  upsert(b, pod('starting', { ips: null, phase: 'Failed', node: 'node3', serviceAccount: 'batch' }));
  assert.equal(b.hasServiceAccountOnNode(NS, 'batch', 'node3'), false);
  assert.deepEqual(b.podsOnNode('node3'), [
    { namespace: NS, name: 'starting', serviceAccount: 'batch', uid: 'uid-starting', phase: 'Failed' },
  ]);
  // Moving or deleting a pod updates the node index.
  remove(b, pod('starting'));
  assert.deepEqual(b.podsOnNode('node3'), []);
  assert.deepEqual(
    b.podsOnNode('node2').map((p) => p.name),
    ['web-3f9c8d7b6-b'],
  );
});

test('builder: options set trust domain, cluster id and root namespace', () => {
  const b = new ModelBuilder({ trustDomain: 'example.org', clusterId: 'east', rootNamespace: 'mesh-root' });
  upsert(b, pod('p'));
  const global = upsert(b, authorizationPolicy('g', {}, { ns: 'mesh-root' }));
  const w = b.snapshot().workloads[0];
  assert.equal(w?.uid, 'east//Pod/demo/p');
  assert.equal(w?.trustDomain, 'example.org');
  assert.equal(w?.clusterId, 'east');
  assert.equal(global.authorizations.upserted[0]?.scope, 'GLOBAL');
});

test('builder: a waypoint pod becomes an HBONE endpoint of its Service when its Gateway appears, and stops when it goes', () => {
  const b = new ModelBuilder();
  const labels = { 'gateway.networking.k8s.io/gateway-name': 'wp', 'istio.io/dataplane-mode': 'none' };
  upsert(b, namespace(NS, { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' }));
  upsert(b, service('wp', { clusterIP: '10.96.0.9', selector: { 'gateway.networking.k8s.io/gateway-name': 'wp' }, labels }));
  const before = upsert(b, pod('wp-1', { labels, ips: ['10.244.1.9'] }));
  assert.equal(before.workloads.upserted[0]?.tunnelProtocol, 'NONE');
  const created = upsert(b, gateway('wp'));
  const wp = created.workloads.upserted.find((w) => w.name === 'wp-1');
  assert.equal(wp?.tunnelProtocol, 'HBONE');
  assert.equal(wp?.waypoint, undefined, 'a waypoint never uses itself');
  assert.deepEqual(Object.keys(wp?.services ?? {}), [svcKey('wp')]);
  // The waypoint's own Service is not sent through the waypoint either.
  assert.equal(b.snapshot().services.find((s) => s.name === 'wp')?.waypoint, undefined);
  const deleted = remove(b, gateway('wp'));
  assert.equal(deleted.workloads.upserted.find((w) => w.name === 'wp-1')?.tunnelProtocol, 'NONE');
});
