import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appProtocolOf } from './app-protocol.ts';
import { parseGateway, parseService } from './kube-objects.ts';
import { buildService } from './service.ts';
import { gateway, NS, service } from '../../testing/kube-objects.ts';
import { resolveWaypoint, type WaypointTarget } from './waypoint.ts';

test('service: hostname, cluster IPs, ports with named targetPorts as 0, no SANs', () => {
  const { service: s, waypointProblem } = buildService(
    parseService(
      service('api', {
        clusterIPs: ['10.96.0.20', 'fd00:96::20'],
        ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'tcp-db', port: 5432, targetPort: 15432 }, { port: 9000 }],
      }),
    ),
    { namespaceLabels: {}, gatewayOf: () => undefined },
  );
  assert.equal(waypointProblem, undefined);
  assert.deepEqual(s, {
    name: 'api',
    namespace: NS,
    hostname: `api.${NS}.svc.cluster.local`,
    addresses: [
      { network: '', address: '10.96.0.20' },
      { network: '', address: 'fd00:96::20' },
    ],
    ports: [
      { servicePort: 80, targetPort: 0, appProtocol: 'HTTP11' },
      { servicePort: 5432, targetPort: 15432, appProtocol: 'TCP' },
      { servicePort: 9000, targetPort: 9000, appProtocol: 'UNKNOWN' },
    ],
    subjectAltNames: [],
  });
});

test('service: headless has no addresses but keeps its ports', () => {
  const { service: s } = buildService(parseService(service('db', { clusterIP: 'None', clusterIPs: ['None'] })), {
    namespaceLabels: {},
    gatewayOf: () => undefined,
  });
  assert.deepEqual(s.addresses, []);
  assert.equal(s.ports.length, 1);
});

test('service: waypoint from its own label, else the namespace label', () => {
  const gw = parseGateway(gateway('wp'));
  const gatewayOf = (ns: string, name: string): typeof gw | undefined => (ns === NS && name === 'wp' ? gw : undefined);
  const labelled = buildService(parseService(service('a', { labels: { 'istio.io/use-waypoint': 'wp' } })), {
    namespaceLabels: {},
    gatewayOf,
  });
  assert.equal(labelled.service.waypoint?.destination.kind, 'hostname');
  const viaNs = buildService(parseService(service('b')), { namespaceLabels: { 'istio.io/use-waypoint': 'wp' }, gatewayOf });
  assert.deepEqual(viaNs.service.waypoint, {
    destination: { kind: 'hostname', namespace: NS, hostname: `wp.${NS}.svc.cluster.local` },
    hboneMtlsPort: 15008,
  });
  // The waypoint's own Service never points at itself.
  const self = buildService(parseService(service('wp')), { namespaceLabels: { 'istio.io/use-waypoint': 'wp' }, gatewayOf });
  assert.equal(self.service.waypoint, undefined);
});

const protocolCases: Array<{ name: string; appProtocol?: string; protocol?: string; want: string }> = [
  { name: 'http', want: 'HTTP11' },
  { name: 'http-web', want: 'HTTP11' },
  { name: 'http2-api', want: 'HTTP2' },
  { name: 'grpc', want: 'GRPC' },
  { name: 'grpc-web', want: 'GRPC' },
  { name: 'tcp-db', want: 'TCP' },
  { name: 'tls-x', want: 'TLS' },
  { name: 'https', want: 'TLS' },
  { name: 'HTTP-Upper', want: 'HTTP11' },
  { name: 'web', want: 'UNKNOWN' },
  { name: 'httpx', want: 'UNKNOWN' },
  { name: '', want: 'UNKNOWN' },
  { name: 'tcp', appProtocol: 'http', want: 'HTTP11' },
  { name: 'x', appProtocol: 'kubernetes.io/h2c', want: 'HTTP2' },
  { name: 'x', appProtocol: 'http2', want: 'HTTP2' },
  { name: 'x', appProtocol: 'grpc', want: 'GRPC' },
  { name: 'x', appProtocol: 'tcp', want: 'TCP' },
  { name: 'x', appProtocol: 'tls', want: 'TLS' },
  { name: 'x', appProtocol: 'https', want: 'TLS' },
  { name: 'grpc-x', appProtocol: 'mongo', want: 'GRPC' },
  { name: 'http', protocol: 'UDP', want: 'UNKNOWN' },
];
for (const c of protocolCases) {
  test(`app protocol: name ${JSON.stringify(c.name)} appProtocol ${c.appProtocol ?? '-'} ${c.protocol ?? 'TCP'} → ${c.want}`, () => {
    const port = { name: c.name, protocol: c.protocol ?? 'TCP', ...(c.appProtocol === undefined ? {} : { appProtocol: c.appProtocol }) };
    assert.equal(appProtocolOf(port), c.want);
  });
}

const gateways = {
  'demo/wp': parseGateway(gateway('wp', { waypointFor: 'all' })),
  'demo/svc-wp': parseGateway(gateway('svc-wp')),
  'demo/wl-wp': parseGateway(gateway('wl-wp', { waypointFor: 'workload' })),
  'demo/off-wp': parseGateway(gateway('off-wp', { waypointFor: 'none' })),
  'demo/not-wp': parseGateway(gateway('not-wp', { className: 'istio' })),
  'shared/wp': parseGateway(gateway('wp', { ns: 'shared', waypointFor: 'all' })),
} as const;
const gatewayOf = (ns: string, name: string): (typeof gateways)[keyof typeof gateways] | undefined =>
  (gateways as Record<string, (typeof gateways)[keyof typeof gateways]>)[`${ns}/${name}`];

const waypointCases: Array<{ name: string; target: Partial<WaypointTarget>; want?: string; problem?: RegExp }> = [
  { name: 'own label', target: { labels: { 'istio.io/use-waypoint': 'wp' } }, want: 'demo/wp.demo.svc.cluster.local' },
  { name: 'namespace label', target: { namespaceLabels: { 'istio.io/use-waypoint': 'wp' } }, want: 'demo/wp.demo.svc.cluster.local' },
  {
    name: 'own label wins over namespace',
    target: { labels: { 'istio.io/use-waypoint': 'wp' }, namespaceLabels: { 'istio.io/use-waypoint': 'svc-wp' } },
    want: 'demo/wp.demo.svc.cluster.local',
  },
  {
    name: 'own `none` opts out of the namespace waypoint',
    target: { labels: { 'istio.io/use-waypoint': 'none' }, namespaceLabels: { 'istio.io/use-waypoint': 'wp' } },
  },
  {
    name: 'cross-namespace waypoint',
    target: { labels: { 'istio.io/use-waypoint': 'wp', 'istio.io/use-waypoint-namespace': 'shared' } },
    want: 'shared/wp.shared.svc.cluster.local',
  },
  {
    name: 'service waypoint for service traffic',
    target: { labels: { 'istio.io/use-waypoint': 'svc-wp' } },
    want: 'demo/svc-wp.demo.svc.cluster.local',
  },
  { name: 'service waypoint ignores workload traffic', target: { traffic: 'workload', labels: { 'istio.io/use-waypoint': 'svc-wp' } } },
  {
    name: 'workload waypoint for workload traffic',
    target: { traffic: 'workload', labels: { 'istio.io/use-waypoint': 'wl-wp' } },
    want: 'demo/wl-wp.demo.svc.cluster.local',
  },
  { name: 'workload waypoint ignores service traffic', target: { labels: { 'istio.io/use-waypoint': 'wl-wp' } } },
  { name: 'waypoint-for none', target: { labels: { 'istio.io/use-waypoint': 'off-wp' } } },
  { name: 'the waypoint itself', target: { ownGateway: 'wp', namespaceLabels: { 'istio.io/use-waypoint': 'wp' } } },
  { name: 'missing Gateway', target: { labels: { 'istio.io/use-waypoint': 'ghost' } }, problem: /demo\/ghost does not exist/ },
  {
    name: 'wrong GatewayClass',
    target: { labels: { 'istio.io/use-waypoint': 'not-wp' } },
    problem: /gatewayClassName istio, not istio-waypoint/,
  },
];
for (const c of waypointCases) {
  test(`waypoint: ${c.name}`, () => {
    const result = resolveWaypoint({ namespace: NS, labels: {}, namespaceLabels: {}, traffic: 'service', ...c.target }, gatewayOf);
    const got =
      result.waypoint?.destination.kind === 'hostname'
        ? `${result.waypoint.destination.namespace}/${result.waypoint.destination.hostname}`
        : undefined;
    assert.equal(got, c.want);
    if (c.want !== undefined) assert.equal(result.waypoint?.hboneMtlsPort, 15008);
    if (c.problem === undefined) assert.equal(result.problem, undefined);
    else assert.match(result.problem?.message ?? '', c.problem);
  });
}
