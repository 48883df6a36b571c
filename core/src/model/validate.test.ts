import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../errors.ts';
import type { Authorization, Service, Workload } from './types.ts';
import { validateAuthorization, validateService, validateWorkload } from './validate.ts';

const workload: Workload = {
  uid: 'Kubernetes//Pod/demo/web-1',
  name: 'web-1',
  namespace: 'demo',
  addresses: ['10.244.1.2', 'fd00::2'],
  hostname: '',
  network: '',
  tunnelProtocol: 'HBONE',
  trustDomain: 'cluster.local',
  serviceAccount: 'web',
  waypoint: { destination: { kind: 'hostname', namespace: 'demo', hostname: 'wp.demo.svc.cluster.local' }, hboneMtlsPort: 15008 },
  node: 'node1',
  canonicalName: 'web',
  canonicalRevision: 'v1',
  workloadType: 'DEPLOYMENT',
  workloadName: 'web',
  services: { 'demo/web.demo.svc.cluster.local': [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }] },
  authorizationPolicies: ['demo/allow'],
  status: 'HEALTHY',
  clusterId: 'Kubernetes',
};

const service: Service = {
  name: 'web',
  namespace: 'demo',
  hostname: 'web.demo.svc.cluster.local',
  addresses: [{ network: '', address: '10.96.0.2' }],
  ports: [{ servicePort: 80, targetPort: 0, appProtocol: 'UNKNOWN' }],
  subjectAltNames: [],
};

const authorization: Authorization = {
  name: 'allow',
  namespace: 'demo',
  scope: 'WORKLOAD_SELECTOR',
  action: 'ALLOW',
  dryRun: false,
  rules: [
    {
      clauses: [
        {
          matches: [
            {
              namespaces: [{ exact: 'demo' }],
              notNamespaces: [{ prefix: 'test-' }],
              serviceAccounts: [{ namespace: 'demo', serviceAccount: 'a' }],
              notServiceAccounts: [],
              principals: [{ suffix: '/sa/a' }],
              notPrincipals: [{ presence: true }],
              sourceIps: [{ address: '10.0.0.0', length: 8 }],
              notSourceIps: [{ address: 'fd00::', length: 64 }],
              destinationIps: [],
              notDestinationIps: [],
              destinationPorts: [80],
              notDestinationPorts: [0],
            },
          ],
        },
      ],
    },
  ],
};

test('valid resources come back equal (and as fresh objects)', () => {
  assert.deepEqual(validateWorkload(workload), workload);
  assert.deepEqual(validateService(service), service);
  assert.deepEqual(validateAuthorization(authorization), authorization);
  const { waypoint: _w, ...noWaypoint } = workload;
  assert.deepEqual(validateWorkload(noWaypoint), noWaypoint);
  assert.notEqual(validateService(service), service);
});

function mutate<T>(base: T, path: ReadonlyArray<string | number>, value: unknown): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let cur = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  assert.ok(last !== undefined);
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return copy;
}

const SVC = 'demo/web.demo.svc.cluster.local';
const MATCH = ['rules', 0, 'clauses', 0, 'matches', 0] as const;
const invalid: Array<{ name: string; validate: (x: unknown) => unknown; input: unknown; message: string }> = [
  {
    name: 'workload not an object',
    validate: validateWorkload,
    input: null,
    message: 'Workload <not an object>: workload: required (must be an object)',
  },
  {
    name: 'empty uid',
    validate: validateWorkload,
    input: mutate(workload, ['uid'], ''),
    message: 'Workload <unnamed>: uid: must not be empty',
  },
  {
    name: 'bad address',
    validate: validateWorkload,
    input: mutate(workload, ['addresses', 1], '10.0.0.300'),
    message: `Workload ${workload.uid}: addresses[1]: "10.0.0.300" is not an IP address`,
  },
  {
    name: 'bad tunnel protocol',
    validate: validateWorkload,
    input: mutate(workload, ['tunnelProtocol'], 'TCP'),
    message: `Workload ${workload.uid}: tunnelProtocol: must be one of NONE, HBONE, got "TCP"`,
  },
  {
    name: 'target port too large',
    validate: validateWorkload,
    input: mutate(workload, ['services', SVC, 0, 'targetPort'], 65536),
    message: `Workload ${workload.uid}: services["${SVC}"][0].targetPort: must be an integer port from 0 to 65535, got number 65536`,
  },
  {
    name: 'service key without namespace',
    validate: validateWorkload,
    input: mutate(workload, ['services'], { 'web.demo.svc': [] }),
    message: `Workload ${workload.uid}: services["web.demo.svc"]: "web.demo.svc" is not <namespace>/<name>`,
  },
  {
    name: 'policy key without namespace',
    validate: validateWorkload,
    input: mutate(workload, ['authorizationPolicies', 0], 'allow'),
    message: `Workload ${workload.uid}: authorizationPolicies[0]: "allow" is not <namespace>/<name>`,
  },
  {
    name: 'waypoint port',
    validate: validateWorkload,
    input: mutate(workload, ['waypoint', 'hboneMtlsPort'], -1),
    message: `Workload ${workload.uid}: waypoint.hboneMtlsPort: must be an integer port from 0 to 65535, got number -1`,
  },
  {
    name: 'waypoint address',
    validate: validateWorkload,
    input: mutate(workload, ['waypoint', 'destination'], { kind: 'address', network: '', address: 'wp' }),
    message: `Workload ${workload.uid}: waypoint.destination.address: "wp" is not an IP address`,
  },
  {
    name: 'missing status',
    validate: validateWorkload,
    input: mutate(workload, ['status'], undefined),
    message: `Workload ${workload.uid}: status: required (must be one of HEALTHY, UNHEALTHY)`,
  },
  {
    name: 'service empty name',
    validate: validateService,
    input: mutate(service, ['name'], ''),
    message: `Service ${SVC}: name: must not be empty`,
  },
  {
    name: 'service bad VIP',
    validate: validateService,
    input: mutate(service, ['addresses', 0, 'address'], 'None'),
    message: `Service ${SVC}: addresses[0].address: "None" is not an IP address`,
  },
  {
    name: 'service fractional port',
    validate: validateService,
    input: mutate(service, ['ports', 0, 'servicePort'], 80.5),
    message: `Service ${SVC}: ports[0].servicePort: must be an integer port from 0 to 65535, got number 80.5`,
  },
  {
    name: 'service bad protocol',
    validate: validateService,
    input: mutate(service, ['ports', 0, 'appProtocol'], 'HTTP'),
    message: `Service ${SVC}: ports[0].appProtocol: must be one of UNKNOWN, HTTP11, HTTP2, GRPC, TCP, TLS, got "HTTP"`,
  },
  {
    name: 'authorization bad scope',
    validate: validateAuthorization,
    input: mutate(authorization, ['scope'], 'CLUSTER'),
    message: 'Authorization demo/allow: scope: must be one of GLOBAL, NAMESPACE, WORKLOAD_SELECTOR, got "CLUSTER"',
  },
  {
    name: 'authorization bad action',
    validate: validateAuthorization,
    input: mutate(authorization, ['action'], 'CUSTOM'),
    message: 'Authorization demo/allow: action: must be one of ALLOW, DENY, got "CUSTOM"',
  },
  {
    name: 'authorization dryRun type',
    validate: validateAuthorization,
    input: mutate(authorization, ['dryRun'], 'false'),
    message: 'Authorization demo/allow: dryRun: must be a boolean, got "false"',
  },
  {
    name: 'CIDR too long',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'sourceIps', 0, 'length'], 33),
    message: 'Authorization demo/allow: rules[0].clauses[0].matches[0].sourceIps[0].length: must be an integer from 0 to 32, got number 33',
  },
  {
    name: 'IPv6 CIDR too long',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'notSourceIps', 0, 'length'], 129),
    message:
      'Authorization demo/allow: rules[0].clauses[0].matches[0].notSourceIps[0].length: must be an integer from 0 to 128, got number 129',
  },
  {
    name: 'CIDR address',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'sourceIps', 0, 'address'], '10.0.0'),
    message: 'Authorization demo/allow: rules[0].clauses[0].matches[0].sourceIps[0].address: "10.0.0" is not an IP address',
  },
  {
    name: 'string match with two forms',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'namespaces', 0], { exact: 'a', prefix: 'b' }),
    message:
      'Authorization demo/allow: rules[0].clauses[0].matches[0].namespaces[0]: must have exactly one of exact, prefix, suffix, presence',
  },
  {
    name: 'presence false',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'notPrincipals', 0], { presence: false }),
    message: 'Authorization demo/allow: rules[0].clauses[0].matches[0].notPrincipals[0].presence: must be true',
  },
  {
    name: 'destination port',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'destinationPorts', 0], 70000),
    message:
      'Authorization demo/allow: rules[0].clauses[0].matches[0].destinationPorts[0]: must be an integer port from 0 to 65535, got number 70000',
  },
  {
    name: 'service account empty',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'serviceAccounts', 0, 'serviceAccount'], ''),
    message: 'Authorization demo/allow: rules[0].clauses[0].matches[0].serviceAccounts[0].serviceAccount: must not be empty',
  },
  {
    name: 'missing match field',
    validate: validateAuthorization,
    input: mutate(authorization, [...MATCH, 'notDestinationIps'], undefined),
    message: 'Authorization demo/allow: rules[0].clauses[0].matches[0].notDestinationIps: required (must be a list)',
  },
];
for (const c of invalid) {
  test(`invalid: ${c.name}`, () => {
    assert.throws(
      () => c.validate(c.input),
      (err: unknown) => {
        assert.ok(hasCode(err, 'INVALID_RESOURCE'), String(err));
        assert.equal((err as Error).message, c.message);
        return true;
      },
    );
  });
}
