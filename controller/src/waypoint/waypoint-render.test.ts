import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asRecord } from '@ambit/core';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service, ServiceAccount } from 'kubernetes-models/v1';
import type { WaypointGateway } from './waypoint-gateway.ts';
import { isSubset, renderWaypoint, type KubeJson, type WaypointDeployOptions } from './waypoint-render.ts';

const GW: WaypointGateway = {
  namespace: 'mesh',
  name: 'waypoint',
  uid: 'gw-uid',
  generation: 1,
  waypointFor: undefined,
  // A Gateway that tries to override the labels the mesh relies on, and sets a canonical name it may set.
  infrastructure: {
    labels: {
      team: 'payments',
      'istio.io/dataplane-mode': 'ambient',
      'gateway.networking.k8s.io/gateway-name': 'other',
      'service.istio.io/canonical-name': 'pay-waypoint',
    },
    annotations: { 'example.com/owner': 'payments@example.com' },
  },
  problem: undefined,
};

const LOCAL: WaypointDeployOptions = {
  trustDomain: 'cluster.local',
  controllerAddress: 'unix:/run/ambit/xds.sock',
  image: 'ghcr.io/ambit-dev/ambit:0.1.0',
  command: { argv: ['/opt/node24/bin/node', '/src/ambit/waypoint/src/main.ts'], workingDir: '/src/ambit' },
  caCredential: { kind: 'minted', mint: (ns, sa) => `minted:${ns}/${sa}` },
  exitWithParent: true,
  logLevel: 'debug',
};

const CLUSTER: WaypointDeployOptions = {
  trustDomain: 'example.org',
  controllerAddress: 'ambit-controller.ambit-system.svc:15012',
  image: 'ghcr.io/ambit-dev/ambit:0.1.0',
  caCredential: { kind: 'projected-token', audience: 'ambit-ca' },
  rootCertConfigMap: 'ambit-ca-root-cert',
  exitWithParent: false,
};

const at = (o: unknown, ...path: Array<string | number>): unknown =>
  path.reduce<unknown>((v, k) => (Array.isArray(v) ? v[k as number] : asRecord(v)[k]), o);
const container = (d: KubeJson): KubeJson => asRecord(at(d, 'spec', 'template', 'spec', 'containers', 0));

test('every object is named after the Gateway, owned by it (controller), and carries its infrastructure metadata', () => {
  const objs = renderWaypoint(GW, LOCAL);
  for (const o of [objs.serviceAccount, objs.deployment, objs.service]) {
    const meta = asRecord(o['metadata']);
    assert.equal(meta['name'], 'waypoint');
    assert.equal(meta['namespace'], 'mesh');
    assert.deepEqual(meta['ownerReferences'], [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid: 'gw-uid', controller: true },
    ]);
    const labels = asRecord(meta['labels']);
    assert.equal(labels['team'], 'payments');
    assert.equal(labels['gateway.networking.k8s.io/gateway-name'], 'waypoint', 'the Gateway cannot rename itself');
    assert.equal(labels['gateway.istio.io/managed'], 'istio.io-mesh-controller');
    assert.equal(labels['gateway.networking.k8s.io/gateway-class-name'], 'istio-waypoint');
    assert.equal(asRecord(meta['annotations'])['example.com/owner'], 'payments@example.com');
  }
});

test('the pod template: not captured, named for telemetry, scraped, labelled so the Service selects it', () => {
  const d = renderWaypoint(GW, LOCAL).deployment;
  const labels = asRecord(at(d, 'spec', 'template', 'metadata', 'labels'));
  assert.equal(labels['istio.io/dataplane-mode'], 'none', 'infrastructure labels cannot opt the waypoint into capture');
  assert.equal(labels['gateway.networking.k8s.io/gateway-name'], 'waypoint');
  assert.equal(labels['service.istio.io/canonical-name'], 'pay-waypoint', 'canonical names may be overridden');
  assert.equal(labels['service.istio.io/canonical-revision'], 'latest');
  assert.equal(labels['team'], 'payments');
  const annotations = asRecord(at(d, 'spec', 'template', 'metadata', 'annotations'));
  assert.equal(annotations['prometheus.io/port'], '15020');
  assert.equal(annotations['example.com/owner'], 'payments@example.com');
  assert.deepEqual(at(d, 'spec', 'selector'), { matchLabels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } });
  assert.equal(at(d, 'spec', 'replicas'), 1);
  assert.equal(at(d, 'spec', 'template', 'spec', 'serviceAccountName'), 'waypoint');
  assert.deepEqual(at(container(d), 'readinessProbe', 'httpGet'), { path: '/healthz/ready', port: 15021, scheme: 'HTTP' });
});

test('local mode: this checkout’s command, the unix socket, a minted credential inline, exit with the runner', () => {
  const c = container(renderWaypoint(GW, LOCAL).deployment);
  assert.deepEqual(c['command'], ['/opt/node24/bin/node', '/src/ambit/waypoint/src/main.ts']);
  assert.equal(c['workingDir'], '/src/ambit');
  assert.deepEqual(c['args'], [
    '--controller',
    'unix:/run/ambit/xds.sock',
    '--gateway-name',
    'waypoint',
    '--trust-domain',
    'cluster.local',
    '--exit-with-parent',
  ]);
  const env = (c['env'] as KubeJson[]).map((e) => [e['name'], e['value'] ?? at(e, 'valueFrom', 'fieldRef', 'fieldPath')]);
  assert.deepEqual(env, [
    ['POD_NAME', 'metadata.name'],
    ['POD_NAMESPACE', 'metadata.namespace'],
    ['POD_IP', 'status.podIP'],
    ['SERVICE_ACCOUNT', 'spec.serviceAccountName'],
    ['AMBIT_LOG_LEVEL', 'debug'],
    ['MALLOC_MMAP_THRESHOLD_', '131072'],
    ['AMBIT_CA_TOKEN', 'minted:mesh/waypoint'],
  ]);
  assert.equal(c['volumeMounts'], undefined);
  assert.deepEqual(c['securityContext'], { runAsUser: 0 }, 'local pods open the root-only xDS socket');
});

test('cluster mode: `ambit waypoint` from the image, TLS to the controller with the published root, a projected token', () => {
  const d = renderWaypoint(GW, CLUSTER).deployment;
  const c = container(d);
  assert.equal(c['command'], undefined, "the image's entrypoint runs");
  assert.equal(c['image'], 'ghcr.io/ambit-dev/ambit:0.1.0');
  assert.deepEqual(c['args'], [
    'waypoint',
    '--controller',
    'ambit-controller.ambit-system.svc:15012',
    '--gateway-name',
    'waypoint',
    '--trust-domain',
    'example.org',
    '--ca-token-file',
    '/var/run/secrets/tokens/ambit-ca-token',
    '--root-cert-file',
    '/var/run/secrets/ambit/root-cert.pem',
  ]);
  assert.ok(!(c['env'] as KubeJson[]).some((e) => e['name'] === 'AMBIT_CA_TOKEN'));
  assert.deepEqual(at(d, 'spec', 'template', 'spec', 'volumes'), [
    {
      name: 'ambit-token',
      projected: { sources: [{ serviceAccountToken: { audience: 'ambit-ca', expirationSeconds: 43200, path: 'ambit-ca-token' } }] },
    },
    { name: 'ambit-ca-root', configMap: { name: 'ambit-ca-root-cert' } },
  ]);
  assert.equal(at(c, 'securityContext', 'runAsNonRoot'), true);
});

test('the Service: mesh 15008, status-port 15021, metrics 15020, selecting the gateway-name label', () => {
  const s = renderWaypoint(GW, CLUSTER).service;
  assert.deepEqual(
    (at(s, 'spec', 'ports') as KubeJson[]).map((p) => [p['name'], p['port']]),
    [
      ['mesh', 15008],
      ['status-port', 15021],
      ['metrics', 15020],
    ],
  );
  assert.deepEqual(at(s, 'spec', 'selector'), { 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
});

test('isSubset: what the API server adds is no drift; what someone changed or removed is', () => {
  const want = { metadata: { labels: { a: '1' }, annotations: {} }, spec: { ports: [{ port: 1 }], env: [] } };
  assert.ok(isSubset(want, { metadata: { labels: { a: '1', extra: 'x' } }, spec: { ports: [{ port: 1, protocol: 'TCP' }], more: 1 } }));
  assert.ok(!isSubset(want, { metadata: { labels: { a: '2' } }, spec: { ports: [{ port: 1 }] } }), 'changed value');
  assert.ok(!isSubset(want, { metadata: { labels: {} }, spec: { ports: [{ port: 1 }] } }), 'removed label');
  assert.ok(!isSubset(want, { metadata: { labels: { a: '1' } }, spec: { ports: [{ port: 1 }, { port: 2 }] } }), 'list grew');
  assert.ok(!isSubset(want, { metadata: { labels: { a: '1' } }, spec: { ports: [{ port: 1 }], env: [{ name: 'X' }] } }), 'env added');
  assert.ok(!isSubset({ a: 1 }, { a: '1' }), 'no type coercion');
});

test('both modes render objects that validate against the Kubernetes schemas (kubernetes-models), as deploy/ does', () => {
  for (const opts of [CLUSTER, LOCAL]) {
    const objs = renderWaypoint(GW, opts);
    assert.doesNotThrow(() => new ServiceAccount(objs.serviceAccount as never).validate(), 'ServiceAccount');
    assert.doesNotThrow(() => new Deployment(objs.deployment as never).validate(), 'Deployment');
    assert.doesNotThrow(() => new Service(objs.service as never).validate(), 'Service');
  }
});
