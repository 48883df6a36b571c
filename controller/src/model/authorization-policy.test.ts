import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import { convertAuthorizationPolicy, emptyMatch, type ConvertedAuthorization } from './authorization-policy.ts';
import type { Match, Rule } from './core-model.ts';
import { parseAuthorizationPolicy } from './security-objects.ts';
import { authorizationPolicy } from '../../testing/kube-objects.ts';

function convert(spec: Record<string, unknown>, o: Parameters<typeof authorizationPolicy>[2] = {}): ConvertedAuthorization {
  return convertAuthorizationPolicy(parseAuthorizationPolicy(authorizationPolicy('p', spec, o)), 'ambit-system');
}

const m = (fields: Partial<Match>): Match => ({ ...emptyMatch(), ...fields });
/** A rule of clauses, each clause given as its list of matches. */
const rule = (...clauses: Match[][]): Rule => ({ clauses: clauses.map((matches) => ({ matches })) });

const HTTP_WARNING =
  /^ztunnel does not support HTTP attributes \(found: (.+)\)\. In ambient mode you must use a waypoint proxy to enforce HTTP rules\./;

// Rules → clauses → matches for every L4 field, its not-form, and the string-match forms.
const ruleCases: Array<{ name: string; spec: Record<string, unknown>; rules: Rule[] }> = [
  { name: 'ALLOW with spec {} allows nothing (no rules)', spec: {}, rules: [] },
  { name: 'empty rule matches everything', spec: { rules: [{}] }, rules: [rule()] },
  {
    name: 'principals: exact, prefix, suffix, presence; spiffe:// stripped',
    spec: {
      rules: [
        {
          from: [
            {
              source: {
                principals: ['cluster.local/ns/a/sa/b', 'spiffe://cluster.local/ns/c/*', '*/sa/admin', '*'],
                notPrincipals: ['cluster.local/ns/bad/sa/x'],
              },
            },
          ],
        },
      ],
    },
    rules: [
      rule([
        m({
          principals: [
            { exact: 'cluster.local/ns/a/sa/b' },
            { prefix: 'cluster.local/ns/c/' },
            { suffix: '/sa/admin' },
            { presence: true },
          ],
          notPrincipals: [{ exact: 'cluster.local/ns/bad/sa/x' }],
        }),
      ]),
    ],
  },
  {
    name: 'namespaces and notNamespaces',
    spec: { rules: [{ from: [{ source: { namespaces: ['prod', 'team-*'], notNamespaces: ['*-test'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'prod' }, { prefix: 'team-' }], notNamespaces: [{ suffix: '-test' }] })])],
  },
  {
    name: 'serviceAccounts: bare names are in the policy namespace',
    spec: { rules: [{ from: [{ source: { serviceAccounts: ['web', 'other/api'], notServiceAccounts: ['legacy'] } }] }] },
    rules: [
      rule([
        m({
          serviceAccounts: [
            { namespace: 'demo', serviceAccount: 'web' },
            { namespace: 'other', serviceAccount: 'api' },
          ],
          notServiceAccounts: [{ namespace: 'demo', serviceAccount: 'legacy' }],
        }),
      ]),
    ],
  },
  {
    name: 'ipBlocks: CIDRs, bare IPv4 is /32, bare IPv6 is /128',
    spec: { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8', '192.168.1.7', 'fd00::1'], notIpBlocks: ['10.1.0.0/16'] } }] }] },
    rules: [
      rule([
        m({
          sourceIps: [
            { address: '10.0.0.0', length: 8 },
            { address: '192.168.1.7', length: 32 },
            { address: 'fd00::1', length: 128 },
          ],
          notSourceIps: [{ address: '10.1.0.0', length: 16 }],
        }),
      ]),
    ],
  },
  {
    name: 'ports and notPorts',
    spec: { rules: [{ to: [{ operation: { ports: ['80', '8080'], notPorts: ['9090'] } }] }] },
    rules: [rule([m({ destinationPorts: [80, 8080], notDestinationPorts: [9090] })])],
  },
  {
    name: 'to and from: one clause each (to first), alternatives as matches',
    spec: {
      rules: [
        {
          from: [{ source: { namespaces: ['a'] } }, { source: { namespaces: ['b'] } }],
          to: [{ operation: { ports: ['80'] } }],
        },
      ],
    },
    rules: [rule([m({ destinationPorts: [80] })], [m({ namespaces: [{ exact: 'a' }] }), m({ namespaces: [{ exact: 'b' }] })])],
  },
  {
    name: 'when: every L4 key, values and notValues, one clause each',
    spec: {
      rules: [
        {
          when: [
            { key: 'source.ip', values: ['10.0.0.1'], notValues: ['10.0.0.0/24'] },
            { key: 'source.namespace', values: ['prod*'], notValues: ['prod-x'] },
            { key: 'source.principal', values: ['*'], notValues: ['spiffe://cluster.local/ns/x/sa/y'] },
            { key: 'destination.ip', values: ['10.96.0.0/16'], notValues: ['10.96.0.1'] },
            { key: 'destination.port', values: ['443'], notValues: ['8443'] },
          ],
        },
      ],
    },
    rules: [
      rule(
        [m({ sourceIps: [{ address: '10.0.0.1', length: 32 }], notSourceIps: [{ address: '10.0.0.0', length: 24 }] })],
        [m({ namespaces: [{ prefix: 'prod' }], notNamespaces: [{ exact: 'prod-x' }] })],
        [m({ principals: [{ presence: true }], notPrincipals: [{ exact: 'cluster.local/ns/x/sa/y' }] })],
        [m({ destinationIps: [{ address: '10.96.0.0', length: 16 }], notDestinationIps: [{ address: '10.96.0.1', length: 32 }] })],
        [m({ destinationPorts: [443], notDestinationPorts: [8443] })],
      ),
    ],
  },
  {
    name: 'several rules stay separate (OR)',
    spec: { rules: [{ from: [{ source: { namespaces: ['a'] } }] }, { to: [{ operation: { ports: ['22'] } }] }] },
    rules: [rule([m({ namespaces: [{ exact: 'a' }] })]), rule([m({ destinationPorts: [22] })])],
  },
];
for (const c of ruleCases) {
  test(`authorization rules: ${c.name}`, () => {
    const { authorization, status } = convert(c.spec);
    assert.deepEqual(authorization?.rules, c.rules);
    assert.deepEqual(status, { accepted: true, reason: 'Accepted', message: '', ignoredFields: [] });
  });
}

const scopeCases: Array<{ name: string; ns: string; spec: Record<string, unknown>; scope: string; action: string }> = [
  { name: 'no selector in a namespace', ns: 'demo', spec: {}, scope: 'NAMESPACE', action: 'ALLOW' },
  { name: 'no selector in the root namespace', ns: 'ambit-system', spec: { action: 'DENY' }, scope: 'GLOBAL', action: 'DENY' },
  { name: 'selector', ns: 'demo', spec: { selector: { matchLabels: { app: 'a' } } }, scope: 'WORKLOAD_SELECTOR', action: 'ALLOW' },
  {
    name: 'selector in the root namespace',
    ns: 'ambit-system',
    spec: { selector: { matchLabels: { app: 'a' } } },
    scope: 'WORKLOAD_SELECTOR',
    action: 'ALLOW',
  },
  { name: 'explicit ALLOW', ns: 'demo', spec: { action: 'ALLOW' }, scope: 'NAMESPACE', action: 'ALLOW' },
];
for (const c of scopeCases) {
  test(`authorization scope: ${c.name} → ${c.scope} ${c.action}`, () => {
    const { authorization } = convert(c.spec, { ns: c.ns });
    assert.equal(authorization?.scope, c.scope);
    assert.equal(authorization?.action, c.action);
    assert.equal(authorization?.namespace, c.ns);
    assert.equal(authorization?.name, 'p');
  });
}

test('L7 in ALLOW: the rule using HTTP attributes is dropped, the others stay; status warns', () => {
  const { authorization, status } = convert({
    rules: [
      { to: [{ operation: { methods: ['GET'], ports: ['80'] } }] },
      { from: [{ source: { namespaces: ['a'] } }] },
      { from: [{ source: { requestPrincipals: ['*'] } }] },
      { when: [{ key: 'request.headers[x-user]', values: ['admin'] }] },
    ],
  });
  assert.deepEqual(authorization?.rules, [rule([m({ namespaces: [{ exact: 'a' }] })])]);
  assert.equal(status.accepted, true);
  assert.equal(status.reason, 'UnsupportedValue');
  assert.deepEqual(status.ignoredFields, ['methods', 'request.headers[x-user]', 'requestPrincipals']);
  assert.equal(HTTP_WARNING.exec(status.message)?.[1], 'methods, request.headers[x-user], requestPrincipals');
  assert.match(status.message, /Within an ALLOW policy, rules matching HTTP attributes are omitted/);
});

test('L7 in ALLOW: a policy whose only rule is HTTP allows nothing', () => {
  assert.deepEqual(convert({ rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }).authorization?.rules, []);
});

// DENY fails closed: HTTP parts are assumed to match, so they are omitted and the rest still denies.
const denyCases: Array<{ name: string; rule: Record<string, unknown>; want: Rule; ignored: string[] }> = [
  {
    name: 'operation with ports and methods keeps the ports',
    rule: { to: [{ operation: { ports: ['80'], methods: ['POST'] } }] },
    want: rule([m({ destinationPorts: [80] })]),
    ignored: ['methods'],
  },
  {
    name: 'HTTP-only operation makes the to-clause match-all; from still applies',
    rule: { from: [{ source: { namespaces: ['evil'] } }], to: [{ operation: { methods: ['POST'] } }] },
    want: rule([m({ namespaces: [{ exact: 'evil' }] })]),
    ignored: ['methods'],
  },
  {
    name: 'one HTTP-only alternative widens the whole clause',
    rule: { to: [{ operation: { ports: ['22'] } }, { operation: { hosts: ['x.com'] } }] },
    want: rule(),
    ignored: ['hosts'],
  },
  {
    name: 'HTTP when key contributes no clause',
    rule: { from: [{ source: { ipBlocks: ['1.2.3.4'] } }], when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] },
    want: rule([m({ sourceIps: [{ address: '1.2.3.4', length: 32 }] })]),
    ignored: ['request.auth.claims[iss]'],
  },
  {
    name: 'only HTTP attributes: denies everything',
    rule: { to: [{ operation: { paths: ['/admin'], notHosts: ['a'] } }], from: [{ source: { remoteIpBlocks: ['1.1.1.1'] } }] },
    want: rule(),
    ignored: ['notHosts', 'paths', 'remoteIpBlocks'],
  },
  {
    name: 'source with L4 and L7 fields keeps the L4 ones',
    rule: { from: [{ source: { principals: ['a/b'], notRequestPrincipals: ['x'], notRemoteIpBlocks: ['2.2.2.2'] } }] },
    want: rule([m({ principals: [{ exact: 'a/b' }] })]),
    ignored: ['notRemoteIpBlocks', 'notRequestPrincipals'],
  },
  {
    name: 'trustDomains cannot be enforced either',
    rule: { from: [{ source: { trustDomains: ['td'], notTrustDomains: ['x'], namespaces: ['a'] } }] },
    want: rule([m({ namespaces: [{ exact: 'a' }] })]),
    ignored: ['notTrustDomains', 'trustDomains'],
  },
  {
    name: 'notMethods and notPaths with notPorts',
    rule: { to: [{ operation: { notMethods: ['GET'], notPaths: ['/x'], notPorts: ['8080'] } }] },
    want: rule([m({ notDestinationPorts: [8080] })]),
    ignored: ['notMethods', 'notPaths'],
  },
];
for (const c of denyCases) {
  test(`L7 in DENY: ${c.name}`, () => {
    const { authorization, status } = convert({ action: 'DENY', rules: [c.rule] });
    assert.deepEqual(authorization?.rules, [c.want]);
    assert.deepEqual(status.ignoredFields, c.ignored);
    assert.equal(status.accepted, true);
    assert.match(status.message, HTTP_WARNING);
    assert.match(status.message, /DENY policy with HTTP attributes is enforced without the HTTP rules/);
  });
}

for (const action of ['CUSTOM', 'AUDIT']) {
  test(`action ${action} is refused for ztunnel`, () => {
    const { authorization, status } = convert({ action, provider: { name: 'ext' }, rules: [{}] });
    assert.equal(authorization, undefined);
    assert.deepEqual(status, {
      accepted: false,
      reason: 'UnsupportedValue',
      message: `ztunnel does not support the ${action} action`,
      ignoredFields: [],
    });
  });
}

const targetRefCases = [
  { targetRefs: [{ kind: 'Service', group: '', name: 'api' }] },
  { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'wp' } },
];
for (const refs of targetRefCases) {
  test(`policies with ${Object.keys(refs)[0]} are left to waypoints`, () => {
    const { authorization, status } = convert({ ...refs, action: 'DENY', rules: [{}] });
    assert.equal(authorization, undefined);
    assert.equal(status.reason, 'NotForZtunnel');
    assert.match(status.message, /waypoint/);
  });
}

const dryRunCases: Array<{ value?: string; dryRun: boolean; note: boolean }> = [
  { dryRun: false, note: false },
  { value: 'true', dryRun: true, note: false },
  { value: 'false', dryRun: false, note: false },
  { value: 'yes', dryRun: false, note: true },
];
for (const c of dryRunCases) {
  test(`dry-run annotation ${c.value ?? '(absent)'} → dryRun ${c.dryRun}`, () => {
    const { authorization, status } = convert(
      { action: 'DENY', rules: [{}] },
      c.value === undefined ? {} : { annotations: { 'istio.io/dry-run': c.value } },
    );
    assert.equal(authorization?.dryRun, c.dryRun);
    assert.equal(status.message.includes('not a boolean'), c.note);
  });
}

const invalidCases: Array<{ name: string; rule: Record<string, unknown>; field: string }> = [
  { name: 'port not a number', rule: { to: [{ operation: { ports: ['http'] } }] }, field: 'spec.rules[0].to[0].operation.ports[0]' },
  { name: 'port out of range', rule: { to: [{ operation: { notPorts: ['70000'] } }] }, field: 'spec.rules[0].to[0].operation.notPorts[0]' },
  { name: 'bad CIDR', rule: { from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }, field: 'spec.rules[0].from[0].source.ipBlocks[0]' },
  { name: 'bad when IP', rule: { when: [{ key: 'destination.ip', notValues: ['x'] }] }, field: 'spec.rules[0].when[0].notValues[0]' },
  { name: 'empty source', rule: { from: [{ source: {} }] }, field: 'spec.rules[0].from[0].source' },
  { name: 'empty operation', rule: { to: [{}] }, field: 'spec.rules[0].to[0].operation' },
  { name: 'condition without values', rule: { when: [{ key: 'source.ip' }] }, field: 'spec.rules[0].when[0]' },
];
for (const c of invalidCases) {
  test(`invalid value: ${c.name} → error naming ${c.field}`, () => {
    assert.throws(
      () => convert({ rules: [c.rule] }),
      (err: unknown) => err instanceof KubeObjectError && err.object === 'AuthorizationPolicy demo/p' && err.field === c.field,
    );
  });
}

test('security.istio.io/v1beta1 converts the same', () => {
  const spec = { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['x'] } }] }] };
  assert.deepEqual(convert(spec, { apiVersion: 'security.istio.io/v1beta1' }), convert(spec));
});
