import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Workload } from './core-model.ts';
import { parseGateway, parsePod, parseService, type GatewayView } from './kube-objects.ts';
import { deploymentPod, gateway, NS, pod, service, type PodOptions } from '../../testing/kube-objects.ts';
import { buildWorkload, type BuiltWorkload } from './workload.ts';

interface Env {
  readonly nsLabels?: Record<string, string>;
  readonly services?: ReadonlyArray<Record<string, unknown>>;
  readonly gateways?: ReadonlyArray<Record<string, unknown>>;
}

function build(podObject: Record<string, unknown>, env: Env = {}): BuiltWorkload {
  const gateways: GatewayView[] = (env.gateways ?? []).map(parseGateway);
  return buildWorkload(parsePod(podObject), {
    clusterId: 'Kubernetes',
    trustDomain: 'cluster.local',
    namespaceLabels: env.nsLabels ?? {},
    services: (env.services ?? []).map(parseService),
    gatewayOf: (ns, name) => gateways.find((g) => g.meta.namespace === ns && g.meta.name === name),
    authorizationPolicies: [],
  });
}

function workload(podObject: Record<string, unknown>, env: Env = {}): Workload {
  const w = build(podObject, env).workload;
  assert.ok(w !== undefined, 'expected a workload');
  return w;
}

const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };

// Tunnel protocol: the namespace or pod label enrols; pod `none`, sidecars and host networking opt out.
const tunnelCases: Array<{ name: string; pod: PodOptions; ns: Record<string, string>; want: string }> = [
  { name: 'namespace ambient', pod: {}, ns: AMBIENT, want: 'HBONE' },
  { name: 'no labels', pod: {}, ns: {}, want: 'NONE' },
  { name: 'pod ambient in plain namespace', pod: { labels: AMBIENT }, ns: {}, want: 'HBONE' },
  { name: 'pod none in ambient namespace', pod: { labels: { 'istio.io/dataplane-mode': 'none' } }, ns: AMBIENT, want: 'NONE' },
  { name: 'sidecar-injected pod', pod: { annotations: { 'sidecar.istio.io/status': '{}' } }, ns: AMBIENT, want: 'NONE' },
  { name: 'sidecar wins over pod label', pod: { labels: AMBIENT, annotations: { 'sidecar.istio.io/status': '{}' } }, ns: {}, want: 'NONE' },
  { name: 'host network', pod: { hostNetwork: true }, ns: AMBIENT, want: 'NONE' },
  { name: 'other namespace value', pod: {}, ns: { 'istio.io/dataplane-mode': 'sidecar' }, want: 'NONE' },
];
for (const c of tunnelCases) {
  test(`tunnel protocol: ${c.name} → ${c.want}`, () => {
    assert.equal(workload(pod('p', c.pod), { nsLabels: c.ns }).tunnelProtocol, c.want);
  });
}

// Workload type, name and canonical names come from the pod's controller and labels.
const ownerCases: Array<{ name: string; pod: Record<string, unknown>; want: Partial<Workload> }> = [
  {
    name: 'Deployment through its ReplicaSet',
    pod: deploymentPod('reviews', 'abcde', { labels: { version: 'v2' } }),
    want: { workloadType: 'DEPLOYMENT', workloadName: 'reviews', canonicalName: 'reviews', canonicalRevision: 'v2' },
  },
  {
    name: 'ReplicaSet whose name lacks the template hash',
    pod: pod('rs-x', { owner: { kind: 'ReplicaSet', name: 'bare-rs' }, labels: { 'pod-template-hash': 'zzz' } }),
    want: { workloadType: 'POD', workloadName: 'bare-rs', canonicalName: 'bare-rs' },
  },
  {
    name: 'Job',
    pod: pod('migrate-x', { owner: { kind: 'Job', name: 'migrate' } }),
    want: { workloadType: 'JOB', workloadName: 'migrate' },
  },
  {
    name: 'Job made by a CronJob',
    pod: pod('backup-29000000-x', { owner: { kind: 'Job', name: 'backup-29000000' } }),
    want: { workloadType: 'CRONJOB', workloadName: 'backup', canonicalName: 'backup' },
  },
  {
    name: 'bare pod',
    pod: pod('debug'),
    want: { workloadType: 'POD', workloadName: 'debug', canonicalName: 'debug', canonicalRevision: 'latest' },
  },
  {
    name: 'StatefulSet names the workload, type POD',
    pod: pod('db-0', { owner: { kind: 'StatefulSet', name: 'db' } }),
    want: { workloadType: 'POD', workloadName: 'db', canonicalName: 'db' },
  },
  {
    name: 'canonical labels in precedence order',
    pod: pod('x', {
      labels: {
        app: 'a',
        'app.kubernetes.io/name': 'k8s-name',
        'service.istio.io/canonical-name': 'istio-name',
        version: 'v1',
        'app.kubernetes.io/version': 'k8s-v',
      },
    }),
    want: { canonicalName: 'istio-name', canonicalRevision: 'k8s-v' },
  },
  {
    name: 'app.kubernetes.io/name over app',
    pod: pod('x', { labels: { app: 'a', 'app.kubernetes.io/name': 'k8s-name' } }),
    want: { canonicalName: 'k8s-name' },
  },
];
for (const c of ownerCases) {
  test(`workload owner: ${c.name}`, () => {
    const w = workload(c.pod);
    for (const [k, v] of Object.entries(c.want)) assert.equal(w[k as keyof Workload], v, k);
  });
}

// Health: HEALTHY only when Running, Ready and not terminating; terminal or IP-less pods are no workload.
const healthCases: Array<{ name: string; pod: PodOptions; want: 'HEALTHY' | 'UNHEALTHY' | 'absent' }> = [
  { name: 'running and ready', pod: {}, want: 'HEALTHY' },
  { name: 'running, not ready', pod: { ready: false }, want: 'UNHEALTHY' },
  { name: 'pending with an IP', pod: { phase: 'Pending', ready: false }, want: 'UNHEALTHY' },
  { name: 'terminating', pod: { deleting: true }, want: 'UNHEALTHY' },
  { name: 'no IP yet', pod: { ips: null, phase: 'Pending' }, want: 'absent' },
  { name: 'succeeded', pod: { phase: 'Succeeded', ready: false }, want: 'absent' },
  { name: 'failed', pod: { phase: 'Failed', ready: false }, want: 'absent' },
];
for (const c of healthCases) {
  test(`health: ${c.name} → ${c.want}`, () => {
    const w = build(pod('p', c.pod)).workload;
    assert.equal(w === undefined ? 'absent' : w.status, c.want);
  });
}

test('identity fields: uid, addresses, node, service account defaults', () => {
  const w = workload(pod('web-1', { ips: ['10.244.2.7', 'fd00::7'], node: 'node2', serviceAccount: 'web' }));
  assert.equal(w.uid, 'Kubernetes//Pod/demo/web-1');
  assert.deepEqual(w.addresses, ['10.244.2.7', 'fd00::7']);
  assert.equal(w.node, 'node2');
  assert.equal(w.serviceAccount, 'web');
  assert.equal(w.trustDomain, 'cluster.local');
  assert.equal(w.clusterId, 'Kubernetes');
  assert.equal(w.network, '');
  assert.equal(workload(pod('plain')).serviceAccount, 'default');
});

test('services map: named targetPorts resolve per pod, unresolvable ones are 0, protocols from appProtocol or name', () => {
  const svc = service('api', {
    selector: { app: 'api' },
    ports: [
      { name: 'http', port: 80, targetPort: 'web' },
      { name: 'grpc-api', port: 9090, targetPort: 'grpc' },
      { name: 'metrics', port: 9100 },
      { name: 'admin', port: 8443, targetPort: 443, appProtocol: 'https' },
    ],
  });
  const v1 = deploymentPod('api', 'a', {
    ports: [
      { name: 'web', containerPort: 8080 },
      { name: 'grpc', containerPort: 7070 },
    ],
  });
  const v2 = deploymentPod('api', 'b', { ports: [{ name: 'web', containerPort: 3000 }] });
  const key = `${NS}/api.${NS}.svc.cluster.local`;
  assert.deepEqual(workload(v1, { services: [svc] }).services, {
    [key]: [
      { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' },
      { servicePort: 9090, targetPort: 7070, appProtocol: 'GRPC' },
      { servicePort: 9100, targetPort: 9100, appProtocol: 'UNKNOWN' },
      { servicePort: 8443, targetPort: 443, appProtocol: 'TLS' },
    ],
  });
  assert.deepEqual(
    workload(v2, { services: [svc] }).services[key]?.map((p) => p.targetPort),
    [3000, 0, 9100, 443],
  );
});

test('services map: only non-empty selectors that match, only the pod namespace, several services per pod', () => {
  const p = pod('p', { labels: { app: 'web', tier: 'front' } });
  const services = [
    service('web', { selector: { app: 'web' } }),
    service('front', { selector: { tier: 'front' } }),
    service('other', { selector: { app: 'other' } }),
    service('manual', { selector: null }),
    service('elsewhere', { ns: 'prod', selector: { app: 'web' } }),
  ];
  assert.deepEqual(Object.keys(workload(p, { services }).services), [
    `${NS}/front.${NS}.svc.cluster.local`,
    `${NS}/web.${NS}.svc.cluster.local`,
  ]);
});

test('waypoint: pod label, namespace label, opt-out, and a missing Gateway reported', () => {
  const gateways = [gateway('wp', { waypointFor: 'workload' }), gateway('svc-only')];
  const want = { destination: { kind: 'hostname', namespace: NS, hostname: `wp.${NS}.svc.cluster.local` }, hboneMtlsPort: 15008 };
  assert.deepEqual(workload(pod('a', { labels: { 'istio.io/use-waypoint': 'wp' } }), { gateways }).waypoint, want);
  assert.deepEqual(workload(pod('b'), { gateways, nsLabels: { 'istio.io/use-waypoint': 'wp' } }).waypoint, want);
  const optOut = workload(pod('c', { labels: { 'istio.io/use-waypoint': 'none' } }), {
    gateways,
    nsLabels: { 'istio.io/use-waypoint': 'wp' },
  });
  assert.equal(optOut.waypoint, undefined);
  // A service-only waypoint (the default `istio.io/waypoint-for`) does not take pod-addressed traffic.
  assert.equal(workload(pod('d', { labels: { 'istio.io/use-waypoint': 'svc-only' } }), { gateways }).waypoint, undefined);
  const missing = build(pod('e', { labels: { 'istio.io/use-waypoint': 'nope' } }), { gateways });
  assert.equal(missing.workload?.waypoint, undefined);
  assert.match(missing.waypointProblem?.message ?? '', /Gateway demo\/nope does not exist/);
});

test('waypoint pods: dataplane-mode none, yet published with HBONE when their Gateway is an istio-waypoint', () => {
  const waypointPod = pod('wp-1', { labels: { 'gateway.networking.k8s.io/gateway-name': 'wp', 'istio.io/dataplane-mode': 'none' } });
  const gateways = [gateway('wp'), gateway('ingress', { className: 'istio' })];
  assert.equal(workload(waypointPod, { gateways, nsLabels: AMBIENT }).tunnelProtocol, 'HBONE');
  assert.equal(workload(waypointPod, { gateways }).tunnelProtocol, 'HBONE', 'whatever the namespace says');
  // Not while its Gateway is unknown, nor for another class's gateway pods: they stay what their labels say.
  assert.equal(workload(waypointPod, { gateways: [] }).tunnelProtocol, 'NONE');
  const ingressPod = pod('in-1', { labels: { 'gateway.networking.k8s.io/gateway-name': 'ingress', 'istio.io/dataplane-mode': 'none' } });
  assert.equal(workload(ingressPod, { gateways, nsLabels: AMBIENT }).tunnelProtocol, 'NONE');
});
