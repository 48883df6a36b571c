import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import type { L7Rule } from '@ambit/core/policy';
import { authorizationPolicy } from '../../testing/kube-objects.ts';
import { convertL7Rules, type L7Conversion } from './l7-authorization.ts';
import { parseAuthorizationPolicy } from './security-objects.ts';

const TARGET = { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' }] };

function convert(spec: Record<string, unknown>, annotations?: Record<string, string>): L7Conversion {
  const result = convertL7Rules(
    parseAuthorizationPolicy(authorizationPolicy('p', { ...TARGET, ...spec }, annotations === undefined ? {} : { annotations })),
  );
  assert.ok(!('unsupportedAction' in result));
  return result;
}

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

test('every from field and its not form, with istiod value forms', () => {
  const c = convert({
    rules: [
      {
        from: [
          {
            source: {
              principals: ['spiffe://cluster.local/ns/a/sa/b', 'cluster.local/ns/c/*'],
              notPrincipals: ['*/sa/admin'],
              namespaces: ['team-*'],
              notNamespaces: ['*'],
              serviceAccounts: ['client', 'other/sa'],
              notServiceAccounts: ['bad'],
              ipBlocks: ['10.0.0.0/8'],
              notIpBlocks: ['10.1.2.3'],
              remoteIpBlocks: ['192.0.2.0/24'],
              notRemoteIpBlocks: ['fd00::/64'],
            },
          },
        ],
      },
    ],
  });
  assert.deepEqual(c.rules, [
    {
      from: [
        {
          principals: [{ exact: 'cluster.local/ns/a/sa/b' }, { prefix: 'cluster.local/ns/c/' }],
          notPrincipals: [{ suffix: '/sa/admin' }],
          namespaces: [{ prefix: 'team-' }],
          notNamespaces: [{ presence: true }],
          serviceAccounts: [
            { namespace: 'demo', serviceAccount: 'client' },
            { namespace: 'other', serviceAccount: 'sa' },
          ],
          notServiceAccounts: [{ namespace: 'demo', serviceAccount: 'bad' }],
          ipBlocks: [{ address: '10.0.0.0', length: 8 }],
          notIpBlocks: [{ address: '10.1.2.3', length: 32 }],
          remoteIpBlocks: [{ address: '192.0.2.0', length: 24 }],
          notRemoteIpBlocks: [{ address: 'fd00::', length: 64 }],
        },
      ],
      to: [],
      when: [],
    },
  ] satisfies L7Rule[]);
  assert.deepEqual(c.ignored, []);
});

test('every to field and its not form; hosts lower-cased', () => {
  const c = convert({
    rules: [
      {
        to: [
          {
            operation: {
              hosts: ['API.demo.svc.cluster.local', '*.example.com'],
              notHosts: ['admin*'],
              ports: ['8080', 9090],
              notPorts: ['81'],
              methods: ['GET', 'HEAD'],
              notMethods: ['DELETE'],
              paths: ['/public/*', '*.html', '/exact'],
              notPaths: ['/public/secret*'],
            },
          },
        ],
      },
    ],
  });
  assert.deepEqual(c.rules[0]?.to, [
    {
      hosts: [{ exact: 'api.demo.svc.cluster.local' }, { suffix: '.example.com' }],
      notHosts: [{ prefix: 'admin' }],
      ports: [8080, 9090],
      notPorts: [81],
      methods: [{ exact: 'GET' }, { exact: 'HEAD' }],
      notMethods: [{ exact: 'DELETE' }],
      paths: [{ prefix: '/public/' }, { suffix: '.html' }, { exact: '/exact' }],
      notPaths: [{ prefix: '/public/secret' }],
    },
  ]);
});

test('every supported when key', () => {
  const c = convert({
    rules: [
      {
        when: [
          { key: 'request.headers[X-Tenant]', values: ['t1'], notValues: ['evil*'] },
          { key: 'source.ip', values: ['10.0.0.0/8'] },
          { key: 'remote.ip', notValues: ['192.0.2.1'] },
          { key: 'source.namespace', values: ['demo'] },
          { key: 'source.principal', values: ['spiffe://cluster.local/ns/demo/sa/client'] },
          { key: 'destination.port', values: ['8080'], notValues: ['81'] },
          { key: 'connection.sni', values: ['*.example.com'] },
        ],
      },
    ],
  });
  assert.deepEqual(c.rules[0]?.when, [
    { key: 'request.headers', header: 'x-tenant', values: [{ exact: 't1' }], notValues: [{ prefix: 'evil' }] },
    { key: 'source.ip', values: [{ address: '10.0.0.0', length: 8 }], notValues: [] },
    { key: 'remote.ip', values: [], notValues: [{ address: '192.0.2.1', length: 32 }] },
    { key: 'source.namespace', values: [{ exact: 'demo' }], notValues: [] },
    { key: 'source.principal', values: [{ exact: 'cluster.local/ns/demo/sa/client' }], notValues: [] },
    { key: 'destination.port', values: [8080], notValues: [81] },
    { key: 'connection.sni', values: [{ suffix: '.example.com' }], notValues: [] },
  ]);
  assert.deepEqual(c.ignored, []);
});

test('empty rule and no rules: ALLOW with an empty rule allows all, ALLOW with spec {} nothing', () => {
  assert.deepEqual(convert({ rules: [{}] }).rules, [{ from: [], to: [], when: [] }]);
  assert.deepEqual(convert({}).rules, []);
});

test('ALLOW: a rule with requestPrincipals or an unknown when key is dropped (fail closed), and named', () => {
  const c = convert({
    rules: [
      { from: [{ source: { requestPrincipals: ['issuer/subject'], namespaces: ['a'] } }] },
      { when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] },
      { to: [{ operation: { methods: ['GET'] } }] },
    ],
  });
  assert.equal(c.rules.length, 1);
  assert.deepEqual(c.rules[0]?.to[0], { ...noOperation, methods: [{ exact: 'GET' }] });
  assert.deepEqual(c.ignored, ['spec.rules[0].from[0].source.requestPrincipals', 'spec.rules[1].when[0] (request.auth.claims[iss])']);
});

test('DENY: the rule is kept without the unsupported part (denies at least what was asked)', () => {
  const c = convert({
    action: 'DENY',
    rules: [
      {
        from: [{ source: { notRequestPrincipals: ['*'], namespaces: ['a'] } }],
        when: [
          { key: 'destination.ip', values: ['10.0.0.1'] },
          { key: 'request.headers[x-block]', values: ['yes'] },
        ],
      },
    ],
  });
  assert.equal(c.action, 'DENY');
  assert.deepEqual(c.rules, [
    {
      from: [{ ...noSource, namespaces: [{ exact: 'a' }] }],
      to: [],
      when: [{ key: 'request.headers', header: 'x-block', values: [{ exact: 'yes' }], notValues: [] }],
    },
  ]);
  assert.deepEqual(c.ignored, ['spec.rules[0].from[0].source.notRequestPrincipals', 'spec.rules[0].when[0] (destination.ip)']);
});

test('CUSTOM and AUDIT are not supported', () => {
  for (const action of ['CUSTOM', 'AUDIT']) {
    const result = convertL7Rules(parseAuthorizationPolicy(authorizationPolicy('p', { ...TARGET, action, rules: [{}] })));
    assert.deepEqual(result, { unsupportedAction: action });
  }
});

test('dry-run annotation', () => {
  assert.equal(convert({ rules: [{}] }, { 'istio.io/dry-run': 'true' }).dryRun, true);
  const bad = convert({ rules: [{}] }, { 'istio.io/dry-run': 'maybe' });
  assert.equal(bad.dryRun, false);
  assert.match(bad.notes[0] ?? '', /istio\.io\/dry-run is not a boolean/);
});

const invalid: Array<{ spec: Record<string, unknown>; field: string }> = [
  { spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }, field: 'spec.rules[0].from[0].source.ipBlocks[0]' },
  { spec: { rules: [{ from: [{ source: { remoteIpBlocks: ['nope'] } }] }] }, field: 'spec.rules[0].from[0].source.remoteIpBlocks[0]' },
  { spec: { rules: [{ to: [{ operation: { ports: ['http'] } }] }] }, field: 'spec.rules[0].to[0].operation.ports[0]' },
  { spec: { rules: [{ to: [{ operation: { notPorts: ['0'] } }] }] }, field: 'spec.rules[0].to[0].operation.notPorts[0]' },
  { spec: { rules: [{ to: [{ operation: {} }] }] }, field: 'spec.rules[0].to[0].operation' },
  { spec: { rules: [{ from: [{ source: {} }] }] }, field: 'spec.rules[0].from[0].source' },
  { spec: { rules: [{ when: [{ key: 'source.ip', values: ['x'] }] }] }, field: 'spec.rules[0].when[0].values[0]' },
  { spec: { rules: [{ when: [{ key: 'destination.port', values: ['70000'] }] }] }, field: 'spec.rules[0].when[0].values[0]' },
  { spec: { rules: [{ when: [{ key: 'source.namespace' }] }] }, field: 'spec.rules[0].when[0]' },
];
for (const c of invalid) {
  test(`invalid value at ${c.field} is refused naming the field`, () => {
    assert.throws(
      () => convert(c.spec),
      (err: unknown) => err instanceof KubeObjectError && err.field === c.field && err.object === 'AuthorizationPolicy demo/p',
    );
  });
}
