import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, type Authorization, type GatewayAddress, type Service, type Workload } from '@ambit/core';
import type { L7Authorization } from '@ambit/core/policy';
import type { ModelDump } from '../debug/model.ts';
import { parseExplainArgs } from './explain-args.ts';
import { renderExplain } from './explain.ts';

describe('ambitctl policy explain arguments', () => {
  it('a pod target, defaults GET / and no headers', () => {
    assert.deepEqual(parseExplainArgs(['--from', 'demo/client', '--to', 'demo/api-1:8080']), {
      help: false,
      fromText: 'demo/client',
      toText: 'demo/api-1:8080',
      from: { namespace: 'demo', name: 'client' },
      to: { kind: 'pod', namespace: 'demo', name: 'api-1', port: 8080 },
      request: { method: 'GET', path: '/', headers: {} },
      output: 'text',
      cluster: undefined,
      kubeconfig: undefined,
    });
  });

  it('a Service target, method, path and repeated headers; -o json', () => {
    const a = parseExplainArgs([
      '--from',
      'demo/client',
      '--to',
      'demo/svc/api:80',
      '--method',
      'post',
      '--path',
      '/public/x?y=1',
      '--header',
      'X-Tenant=t1',
      '--header',
      'x-tenant=t2',
      '--header',
      'Host=api.demo',
      '-o',
      'json',
      '--name',
      'c1',
    ]);
    assert.deepEqual(a.to, { kind: 'service', namespace: 'demo', name: 'api', port: 80 });
    assert.deepEqual(a.request, { method: 'POST', path: '/public/x?y=1', headers: { 'x-tenant': 't1,t2', host: 'api.demo' } });
    assert.equal(a.output, 'json');
    assert.equal(a.cluster, 'c1');
  });

  it('refuses what it cannot read, naming the flag', () => {
    const bad: Array<[string[], RegExp]> = [
      [['--from', 'demo/client'], /needs --from NAMESPACE\/POD and --to/],
      [['--from', 'client', '--to', 'demo/api:80'], /--from must be NAMESPACE\/POD/],
      [['--from', 'demo/client', '--to', 'demo/api'], /--to must be NAMESPACE\/POD:PORT or NAMESPACE\/svc\/SERVICE:PORT/],
      [['--from', 'demo/client', '--to', 'demo/x/api:80'], /--to must be/],
      [['--from', 'demo/client', '--to', 'demo/api:0'], /--to port must be 1-65535/],
      [['--from', 'demo/client', '--to', 'demo/api:80', '--header', 'novalue'], /--header must be NAME=VALUE/],
      [['--from', 'demo/client', '--to', 'demo/api:80', '--path', 'public'], /--path must start with "\/"/],
      [['--from', 'demo/client', '--to', 'demo/api:80', '--method', 'GE T'], /--method must be an HTTP method/],
      [['--from', 'demo/client', '--to', 'demo/api:80', '-o', 'yaml'], /unknown output format "yaml"/],
    ];
    for (const [args, message] of bad) {
      assert.throws(
        () => parseExplainArgs(args),
        (err: unknown) => hasCode(err, 'BAD_ARGS') && message.test((err as Error).message),
        args.join(' '),
      );
    }
  });

  it('--help needs nothing else', () => {
    assert.equal(parseExplainArgs(['--help']).help, true);
  });
});

// A fixed model: client → Service api (served by waypoint demo/waypoint) → pod api-1; the waypoint runs as pod
// waypoint-abc (ServiceAccount waypoint); one namespace L4 policy allows only the waypoint into demo.
const WAYPOINT: GatewayAddress = {
  destination: { kind: 'hostname', namespace: 'demo', hostname: 'waypoint.demo.svc.cluster.local' },
  hboneMtlsPort: 15008,
};
function workload(name: string, ip: string, sa: string, services: Workload['services'], waypoint?: GatewayAddress): Workload {
  return {
    uid: `Kubernetes//Pod/demo/${name}`,
    name,
    namespace: 'demo',
    addresses: [ip],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: sa,
    node: 'node-1',
    canonicalName: name,
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: name,
    services,
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...(waypoint === undefined ? {} : { waypoint }),
  };
}
const service = (name: string, vip: string, port: number, waypoint?: GatewayAddress): Service => ({
  name,
  namespace: 'demo',
  hostname: `${name}.demo.svc.cluster.local`,
  addresses: [{ network: '', address: vip }],
  ports: [{ servicePort: port, targetPort: port === 80 ? 8080 : port, appProtocol: 'HTTP11' }],
  subjectAltNames: [],
  ...(waypoint === undefined ? {} : { waypoint }),
});
const noSource = {
  principals: [],
  notPrincipals: [],
  namespaces: [],
  notNamespaces: [],
  serviceAccounts: [],
  notServiceAccounts: [],
  ipBlocks: [],
  notIpBlocks: [],
  remoteIpBlocks: [],
  notRemoteIpBlocks: [],
};
const noOperation = { hosts: [], notHosts: [], ports: [], notPorts: [], methods: [], notMethods: [], paths: [], notPaths: [] };
const l7: L7Authorization[] = [
  {
    name: 'public-read',
    namespace: 'demo',
    action: 'ALLOW',
    dryRun: false,
    targets: [{ kind: 'Gateway', namespace: 'demo', name: 'waypoint' }],
    rules: [
      {
        from: [{ ...noSource, principals: [{ exact: 'cluster.local/ns/demo/sa/client' }] }],
        to: [{ ...noOperation, methods: [{ exact: 'GET' }], paths: [{ prefix: '/public/' }] }],
        when: [],
      },
    ],
  },
  {
    name: 'block-tenant',
    namespace: 'demo',
    action: 'DENY',
    dryRun: false,
    targets: [{ kind: 'Service', namespace: 'demo', hostname: 'api.demo.svc.cluster.local' }],
    rules: [{ from: [], to: [], when: [{ key: 'request.headers', header: 'x-tenant', values: [{ exact: 'blocked' }], notValues: [] }] }],
  },
  {
    name: 'other-waypoint',
    namespace: 'demo',
    action: 'DENY',
    dryRun: false,
    targets: [{ kind: 'Gateway', namespace: 'demo', name: 'elsewhere' }],
    rules: [{ from: [], to: [], when: [] }],
  },
];
const l4: Authorization[] = [
  {
    name: 'only-waypoint',
    namespace: 'demo',
    scope: 'NAMESPACE',
    action: 'ALLOW',
    dryRun: false,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                namespaces: [],
                notNamespaces: [],
                serviceAccounts: [],
                notServiceAccounts: [],
                principals: [{ exact: 'cluster.local/ns/demo/sa/waypoint' }],
                notPrincipals: [],
                sourceIps: [],
                notSourceIps: [],
                destinationIps: [],
                notDestinationIps: [],
                destinationPorts: [],
                notDestinationPorts: [],
              },
            ],
          },
        ],
      },
    ],
  },
];
const apiPorts = [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' as const }];
const model = {
  workloads: [
    workload('client', '10.244.1.5', 'client', {}),
    workload('api-1', '10.244.2.7', 'api', { 'demo/api.demo.svc.cluster.local': apiPorts }, WAYPOINT),
    workload('waypoint-abc', '10.244.1.9', 'waypoint', {
      'demo/waypoint.demo.svc.cluster.local': [{ servicePort: 15008, targetPort: 15008, appProtocol: 'TCP' }],
    }),
  ],
  services: [service('api', '10.96.0.10', 80, WAYPOINT), service('waypoint', '10.96.0.99', 15008)],
  authorizations: l4,
  l7Authorizations: l7,
} as unknown as ModelDump;

const run = (...args: string[]): string => renderExplain(model, parseExplainArgs(['--from', 'demo/client', ...args]));

describe('ambitctl policy explain output', () => {
  it('a Service served by a waypoint: the L7 decision naming policy and rule, then ztunnel with the waypoint as source', () => {
    assert.equal(
      run('--to', 'demo/svc/api:80', '--path', '/public/a?x=1'),
      [
        'ALLOW (waypoint demo/waypoint): GET /public/a — allowed by ALLOW policy demo/public-read rules[0]',
        '  source:      spiffe://cluster.local/ns/demo/sa/client at 10.244.1.5',
        '  request:     GET /public/a, host api.demo.svc.cluster.local, port 80',
        '  L7 policies at the waypoint (2):',
        '    DENY  demo/block-tenant [Service api.demo.svc.cluster.local]: no match',
        '        rules[0]: when[0] request.headers[x-tenant] values [blocked] does not match (none)',
        '    ALLOW demo/public-read [Gateway demo/waypoint]: matched by rules[0] — decided',
        'ALLOW (ztunnel of demo/api-1): waypoint demo/waypoint-abc → demo/api-1:8080 — allowed by ALLOW policy demo/only-waypoint',
        '  source:      spiffe://cluster.local/ns/demo/sa/waypoint at 10.244.1.9',
        '  destination: demo/api-1 at 10.244.2.7:8080 (HBONE to :15008)',
        '  policies in scope (1):',
        '    ALLOW demo/only-waypoint [NAMESPACE]: matched by rules[0] — decided',
        '',
      ].join('\n'),
    );
  });

  it('denials name why each policy did not match, and what decided', () => {
    const post = run('--to', 'demo/svc/api:80', '--method', 'POST', '--path', '/public/x');
    assert.match(post, /^DENY \(waypoint demo\/waypoint\): POST \/public\/x — no ALLOW policy matched \(demo\/public-read\)\n/);
    assert.match(post, /rules\[0\]: to\[0\]\.operation\.methods \[GET\] does not match "POST"/);
    assert.match(post, /the waypoint answers 403 "RBAC: access denied"/);
    const header = run('--to', 'demo/svc/api:80', '--path', '/public/a', '--header', 'x-tenant=blocked');
    assert.match(header, /^DENY \(waypoint demo\/waypoint\): GET \/public\/a — denied by DENY policy demo\/block-tenant rules\[0\]\n/);
  });

  it('a pod whose workload names the waypoint: the same L7 policies (Service ones through the Service it backs)', () => {
    const out = run('--to', 'demo/api-1:8080', '--path', '/private');
    assert.match(out, /^DENY \(waypoint demo\/waypoint\): GET \/private — no ALLOW policy matched/);
    assert.match(out, /request: {5}GET \/private, host 10\.244\.2\.7:8080, port 80/);
    assert.match(out, /DENY {2}demo\/block-tenant \[Service api\.demo\.svc\.cluster\.local\]: no match/);
  });

  it('-o json: the waypoint part beside the L4 part', () => {
    const json = JSON.parse(run('--to', 'demo/svc/api:80', '--path', '/public/a', '-o', 'json')) as Record<string, unknown>;
    const wp = json['waypoint'] as { gateway: string; decision: { allow: boolean; policy: string; rule: number } };
    assert.equal(wp.gateway, 'demo/waypoint');
    assert.deepEqual(
      { allow: wp.decision.allow, policy: wp.decision.policy, rule: wp.decision.rule },
      { allow: true, policy: 'demo/public-read', rule: 0 },
    );
    assert.deepEqual(json['connection'], {
      sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/waypoint',
      sourceIp: '10.244.1.9',
      destinationIp: '10.244.2.7',
      destinationPort: 8080,
    });
    assert.equal((json['decision'] as { allow: boolean }).allow, true);
  });

  it('without a waypoint in the path: the L4 explanation exactly as before', () => {
    const out = run('--to', 'demo/waypoint-abc:15008');
    assert.equal(out.split('\n')[0], 'DENY: demo/client → demo/waypoint-abc:15008 — no ALLOW policy matched (demo/only-waypoint)');
    assert.doesNotMatch(out, /waypoint demo\/waypoint\)/);
  });
});
