import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../errors.ts';
import { protoTypes } from '../proto/load.ts';
import { decodeAddress, decodeAuthorization, encodeAddress, encodeAuthorization } from './codec.ts';
import { emptyMatch as emptyMatchOf, type Authorization, type Match, type Service, type Workload } from './types.ts';

const workload: Workload = {
  uid: 'Kubernetes//Pod/demo/api-v1-abc',
  name: 'api-v1-abc',
  namespace: 'demo',
  addresses: ['10.244.1.5', 'fd00::5'],
  hostname: 'api-v1-abc.demo',
  network: 'net1',
  tunnelProtocol: 'HBONE',
  trustDomain: 'example.org',
  serviceAccount: 'api',
  waypoint: { destination: { kind: 'hostname', namespace: 'demo', hostname: 'waypoint.demo.svc.cluster.local' }, hboneMtlsPort: 15008 },
  node: 'node1',
  canonicalName: 'api',
  canonicalRevision: 'v1',
  workloadType: 'POD',
  workloadName: 'api-v1',
  services: {
    'demo/api.demo.svc.cluster.local': [
      { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' },
      { servicePort: 9000, targetPort: 0, appProtocol: 'TCP' },
    ],
    'demo/grpc.demo.svc.cluster.local': [{ servicePort: 7000, targetPort: 7001, appProtocol: 'GRPC' }],
  },
  authorizationPolicies: ['demo/allow-web', 'demo/deny-9999'],
  status: 'UNHEALTHY',
  clusterId: 'cluster1',
};

const service: Service = {
  name: 'api',
  namespace: 'demo',
  hostname: 'api.demo.svc.cluster.local',
  addresses: [
    { network: '', address: '10.96.0.10' },
    { network: 'net2', address: 'fd00:96::a' },
  ],
  ports: [
    { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP2' },
    { servicePort: 443, targetPort: 8443, appProtocol: 'TLS' },
    { servicePort: 1, targetPort: 2, appProtocol: 'UNKNOWN' },
  ],
  subjectAltNames: ['spiffe://cluster.local/ns/demo/sa/api'],
  waypoint: { destination: { kind: 'address', network: 'net1', address: '10.244.2.9' }, hboneMtlsPort: 15008 },
};

const emptyMatch: Match = emptyMatchOf();

const fullMatch: Match = {
  namespaces: [{ exact: 'demo' }, { prefix: 'team-' }],
  notNamespaces: [{ suffix: '-test' }],
  serviceAccounts: [{ namespace: 'demo', serviceAccount: 'web' }],
  notServiceAccounts: [{ namespace: 'demo', serviceAccount: 'batch' }],
  principals: [{ exact: 'cluster.local/ns/demo/sa/web' }, { presence: true }],
  notPrincipals: [{ prefix: 'cluster.local/ns/evil/' }],
  sourceIps: [{ address: '10.244.0.0', length: 16 }],
  notSourceIps: [{ address: '10.244.9.9', length: 32 }],
  destinationIps: [{ address: 'fd00::', length: 8 }],
  notDestinationIps: [{ address: '10.96.0.1', length: 32 }],
  destinationPorts: [80, 8080],
  notDestinationPorts: [9999],
};

const authorization: Authorization = {
  name: 'allow-web',
  namespace: 'demo',
  scope: 'WORKLOAD_SELECTOR',
  action: 'DENY',
  rules: [{ clauses: [{ matches: [fullMatch, { ...emptyMatch, destinationPorts: [1] }] }, { matches: [] }] }, { clauses: [] }],
  dryRun: true,
};

test('a workload round-trips with every field', () => {
  assert.deepEqual(decodeAddress(encodeAddress({ workload })), { workload });
});

test('a service round-trips with every field, and without a waypoint or addresses (headless)', () => {
  assert.deepEqual(decodeAddress(encodeAddress({ service })), { service });
  const { waypoint: _w, ...headless } = { ...service, addresses: [] };
  assert.deepEqual(decodeAddress(encodeAddress({ service: headless })), { service: headless });
});

test('an authorization round-trips with every match field and nesting', () => {
  assert.deepEqual(decodeAuthorization(encodeAuthorization(authorization)), authorization);
  const minimal: Authorization = { name: 'n', namespace: 'ambit-system', scope: 'GLOBAL', action: 'ALLOW', rules: [], dryRun: false };
  assert.deepEqual(decodeAuthorization(encodeAuthorization(minimal)), minimal);
});

test('the default trust domain and service account are elided on the wire and restored on decode', () => {
  const plain: Workload = { ...workload, trustDomain: 'cluster.local', serviceAccount: 'default' };
  const bytes = encodeAddress({ workload: plain });
  // decode() sets own properties only for fields present on the wire.
  const wire = protoTypes.Address.decode(bytes) as unknown as { workload: object };
  assert.equal(Object.hasOwn(wire.workload, 'trustDomain'), false);
  assert.equal(Object.hasOwn(wire.workload, 'serviceAccount'), false);
  assert.equal(Object.hasOwn(wire.workload, 'uid'), true);
  assert.deepEqual(decodeAddress(bytes), { workload: plain });
});

test('IPs go on the wire as 4 and 16 raw bytes', () => {
  const wire = protoTypes.Address.toObject(protoTypes.Address.decode(encodeAddress({ workload }))) as {
    workload: { addresses: Uint8Array[] };
  };
  assert.deepEqual(
    wire.workload.addresses.map((a) => a.length),
    [4, 16],
  );
  assert.deepEqual(Array.from(wire.workload.addresses[0] ?? []), [10, 244, 1, 5]);
});

test('field numbers match Istio: workload uid is field 20, Address.workload 1, Address.service 2', () => {
  const minimal = protoTypes.Address.encode(protoTypes.Address.fromObject({ workload: { uid: 'u' } })).finish();
  // 0x0a = field 1 (workload), length-delimited; inside, 0xa2 0x01 = field 20 wire type 2.
  assert.deepEqual(Array.from(minimal), [0x0a, 0x04, 0xa2, 0x01, 0x01, 0x75]);
  const svc = protoTypes.Address.encode(protoTypes.Address.fromObject({ service: { hostname: 'h' } })).finish();
  assert.deepEqual(Array.from(svc), [0x12, 0x03, 0x1a, 0x01, 0x68]);
});

test('service map keys are sorted so equal workloads encode to equal bytes', () => {
  const reordered: Workload = {
    ...workload,
    services: Object.fromEntries(Object.entries(workload.services).reverse()),
  };
  assert.deepEqual(encodeAddress({ workload: reordered }), encodeAddress({ workload }));
});

test('garbage bytes throw a MALFORMED_RESOURCE error that says what was being decoded', () => {
  const garbage = Buffer.from('not a protobuf at all');
  assert.throws(
    () => decodeAddress(garbage),
    (err: unknown) => hasCode(err, 'MALFORMED_RESOURCE') && /invalid istio\.workload\.Address: /.test((err as Error).message),
  );
  assert.throws(() => decodeAuthorization(garbage), /invalid istio\.security\.Authorization: /);
  assert.throws(() => decodeAddress(new Uint8Array(0)), /neither workload nor service/);
});

test('well-formed protobuf the model cannot hold is rejected, naming the resource and field', () => {
  const enc = (o: object) => protoTypes.Address.encode(protoTypes.Address.fromObject(o)).finish();
  assert.throws(
    () => decodeAddress(enc({ workload: { uid: 'w1', addresses: [new Uint8Array(5)] } })),
    /workload "w1": addresses\[0\]: an IP address is 4 or 16 bytes, got 5/,
  );
  assert.throws(
    () => decodeAddress(enc({ workload: { uid: 'w1', tunnelProtocol: 'LEGACY_ISTIO_MTLS' } })),
    /tunnelProtocol: unsupported value "LEGACY_ISTIO_MTLS"/,
  );
  assert.throws(() => decodeAddress(enc({ workload: { uid: 'w1', status: 7 } })), /status: unsupported value 7/);
  assert.throws(() => decodeAddress(enc({ workload: { name: 'x' } })), /uid is empty/);
  assert.throws(
    () => decodeAddress(enc({ service: { hostname: 'h', ports: [{ servicePort: 70000 }] } })),
    /ports\[0\]: servicePort: 70000 is not a port/,
  );
  assert.throws(
    () => decodeAddress(enc({ service: { hostname: 'h', waypoint: { hboneMtlsPort: 15008 } } })),
    /waypoint: neither hostname nor address/,
  );
  const authz = (o: object) => protoTypes.Authorization.encode(protoTypes.Authorization.fromObject(o)).finish();
  assert.throws(
    () =>
      decodeAuthorization(
        authz({
          name: 'p',
          namespace: 'ns',
          rules: [{ clauses: [{ matches: [{ sourceIps: [{ address: new Uint8Array(4), length: 33 }] }] }] }],
        }),
      ),
    /"ns\/p": rules\[0\]\.clauses\[0\]\.matches\[0\]: sourceIps\[0\]: prefix length 33 exceeds 32/,
  );
  assert.throws(
    () => decodeAuthorization(authz({ name: 'p', rules: [{ clauses: [{ matches: [{ principals: [{}] }] }] }] })),
    /principals\[0\]: no match_type/,
  );
  assert.throws(() => decodeAuthorization(authz({ namespace: 'ns' })), /name is empty/);
});

test('encoding a model value that is not valid on the wire throws, naming the field', () => {
  assert.throws(
    () => encodeAddress({ workload: { ...workload, addresses: ['10.0.0.300'] } }),
    /cannot encode istio\.workload\.Address workload .*addresses\[0\]: not an IP address/,
  );
  assert.throws(
    () =>
      encodeAuthorization({
        ...authorization,
        rules: [{ clauses: [{ matches: [{ ...emptyMatch, sourceIps: [{ address: 'x', length: 1 }] }] }] }],
      }),
    /cannot encode istio\.security\.Authorization "demo\/allow-web": sourceIps\[0\]: not an IP address/,
  );
});
