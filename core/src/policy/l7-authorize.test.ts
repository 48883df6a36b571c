import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StringMatch } from '../model/types.ts';
import { authorizeRequest, explainRequest, l7RequestFacts, l7RequestPath, normalizeRequestTarget } from './l7-authorize.ts';
import type { L7Authorization, L7Condition, L7Operation, L7RequestFacts, L7Rule, L7Source } from './l7-types.ts';

// Table-driven cases of Istio's L7 AuthorizationPolicy semantics (l7-types.ts; istio.io authorization-policy reference).
// Every case is decided twice — authorizeRequest() and explainRequest() — which must agree, and the explanation must
// name the matching rule of the deciding policy.

const SPIFFE = 'spiffe://cluster.local';
const req = (over: Partial<Omit<L7RequestFacts, 'header'>> & { headers?: Record<string, string> } = {}): L7RequestFacts =>
  l7RequestFacts({
    sourceIdentity: `${SPIFFE}/ns/a/sa/client`,
    sourceIp: '10.244.1.5',
    remoteIp: '10.244.1.5',
    host: 'api.b.svc.cluster.local:8080',
    destinationPort: 8080,
    method: 'GET',
    path: '/public/a',
    sni: undefined,
    ...over,
  });

const emptySource: L7Source = {
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
const emptyOperation: L7Operation = {
  hosts: [],
  notHosts: [],
  ports: [],
  notPorts: [],
  methods: [],
  notMethods: [],
  paths: [],
  notPaths: [],
};
const src = (f: Partial<L7Source>): L7Source => ({ ...emptySource, ...f });
const op = (f: Partial<L7Operation>): L7Operation => ({ ...emptyOperation, ...f });
const rule = (r: Partial<L7Rule> = {}): L7Rule => ({ from: [], to: [], when: [], ...r });
const exact = (v: string): StringMatch => ({ exact: v });
const prefix = (v: string): StringMatch => ({ prefix: v });
const suffix = (v: string): StringMatch => ({ suffix: v });
const presence: StringMatch = { presence: true };
const cidr = (address: string, length: number) => ({ address, length });

let seq = 0;
function policy(action: 'ALLOW' | 'DENY', rules: L7Rule[], extra: Partial<L7Authorization> = {}): L7Authorization {
  seq += 1;
  return {
    name: `${action.toLowerCase()}-${seq}`,
    namespace: 'b',
    action,
    dryRun: false,
    targets: [{ kind: 'Gateway', namespace: 'b', name: 'waypoint' }],
    rules,
    ...extra,
  };
}
const allowFrom = (s: Partial<L7Source>): L7Authorization => policy('ALLOW', [rule({ from: [src(s)] })]);
const allowTo = (o: Partial<L7Operation>): L7Authorization => policy('ALLOW', [rule({ to: [op(o)] })]);
const allowWhen = (...when: L7Condition[]): L7Authorization => policy('ALLOW', [rule({ when })]);

interface Case {
  readonly name: string;
  readonly policies: L7Authorization[];
  readonly req: L7RequestFacts;
  readonly allow: boolean;
  /** Index (in `policies`) of the deciding policy and its matching rule, when one decided. */
  readonly by?: readonly [number, number];
  /** Expected dry-run outcome, when dry-run policies disagree with the decision. */
  readonly dryRun?: boolean;
}

const cases: Case[] = [
  // Decision order and empty forms.
  { name: 'no policy: allowed', policies: [], req: req(), allow: true },
  { name: 'ALLOW without rules allows nothing', policies: [policy('ALLOW', [])], req: req(), allow: false },
  { name: 'DENY without rules denies nothing', policies: [policy('DENY', [])], req: req(), allow: true },
  { name: 'ALLOW with an empty rule allows everything', policies: [policy('ALLOW', [rule()])], req: req(), allow: true, by: [0, 0] },
  { name: 'DENY with an empty rule denies everything', policies: [policy('DENY', [rule()])], req: req(), allow: false, by: [0, 0] },
  {
    name: 'DENY wins over a matching ALLOW',
    policies: [policy('ALLOW', [rule()]), policy('DENY', [rule({ to: [op({ methods: [exact('GET')] })] })])],
    req: req(),
    allow: false,
    by: [1, 0],
  },
  {
    name: 'one of several ALLOW policies suffices; the second rule matched',
    policies: [
      allowTo({ paths: [exact('/x')] }),
      policy('ALLOW', [rule({ to: [op({ paths: [exact('/y')] })] }), rule({ to: [op({ paths: [prefix('/public/')] })] })]),
    ],
    req: req(),
    allow: true,
    by: [1, 1],
  },
  { name: 'ALLOW exists, none matches: denied', policies: [allowTo({ paths: [exact('/private')] })], req: req(), allow: false },
  {
    name: 'non-matching DENY alone: allowed',
    policies: [policy('DENY', [rule({ to: [op({ methods: [exact('POST')] })] })])],
    req: req(),
    allow: true,
  },

  // Dry run.
  { name: 'dry-run DENY does not block', policies: [policy('DENY', [rule()], { dryRun: true })], req: req(), allow: true, dryRun: false },
  {
    name: 'dry-run ALLOW that would not match does not block',
    policies: [policy('ALLOW', [rule({ to: [op({ paths: [exact('/x')] })] })], { dryRun: true })],
    req: req(),
    allow: true,
    dryRun: false,
  },
  {
    name: 'dry-run ALLOW that matches agrees: no dry-run report',
    policies: [policy('ALLOW', [rule()], { dryRun: true })],
    req: req(),
    allow: true,
  },
  {
    name: 'dry-run ALLOW next to a denying enforced ALLOW: denied, dry run would allow',
    policies: [allowTo({ paths: [exact('/x')] }), policy('ALLOW', [rule()], { dryRun: true })],
    req: req(),
    allow: false,
    dryRun: true,
  },
  {
    name: 'enforced DENY with a dry-run DENY: enforced decides',
    policies: [policy('DENY', [rule()], { dryRun: true }), policy('DENY', [rule()])],
    req: req(),
    allow: false,
    by: [1, 0],
  },

  // from: every field and its not form.
  {
    name: 'principals exact',
    policies: [allowFrom({ principals: [exact('cluster.local/ns/a/sa/client')] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'principals other SA',
    policies: [allowFrom({ principals: [exact('cluster.local/ns/a/sa/client')] })],
    req: req({ sourceIdentity: `${SPIFFE}/ns/a/sa/other` }),
    allow: false,
  },
  { name: 'principals suffix', policies: [allowFrom({ principals: [suffix('/sa/client')] })], req: req(), allow: true, by: [0, 0] },
  {
    name: 'principals prefix',
    policies: [allowFrom({ principals: [prefix('cluster.local/ns/a/')] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  { name: 'principals presence with identity', policies: [allowFrom({ principals: [presence] })], req: req(), allow: true, by: [0, 0] },
  {
    name: 'principals presence without identity',
    policies: [allowFrom({ principals: [presence] })],
    req: req({ sourceIdentity: undefined }),
    allow: false,
  },
  { name: 'notPrincipals excludes', policies: [allowFrom({ notPrincipals: [suffix('/sa/client')] })], req: req(), allow: false },
  { name: 'notPrincipals other', policies: [allowFrom({ notPrincipals: [suffix('/sa/admin')] })], req: req(), allow: true, by: [0, 0] },
  {
    name: 'notPrincipals presence: no identity holds',
    policies: [allowFrom({ notPrincipals: [presence] })],
    req: req({ sourceIdentity: undefined }),
    allow: true,
    by: [0, 0],
  },
  { name: 'namespaces', policies: [allowFrom({ namespaces: [exact('a')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'namespaces other', policies: [allowFrom({ namespaces: [exact('c')] })], req: req(), allow: false },
  { name: 'notNamespaces', policies: [allowFrom({ notNamespaces: [exact('a')] })], req: req(), allow: false },
  {
    name: 'serviceAccounts',
    policies: [allowFrom({ serviceAccounts: [{ namespace: 'a', serviceAccount: 'client' }] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'serviceAccounts other namespace',
    policies: [allowFrom({ serviceAccounts: [{ namespace: 'b', serviceAccount: 'client' }] })],
    req: req(),
    allow: false,
  },
  {
    name: 'notServiceAccounts',
    policies: [allowFrom({ notServiceAccounts: [{ namespace: 'a', serviceAccount: 'client' }] })],
    req: req(),
    allow: false,
  },
  { name: 'ipBlocks', policies: [allowFrom({ ipBlocks: [cidr('10.244.1.0', 24)] })], req: req(), allow: true, by: [0, 0] },
  { name: 'ipBlocks other', policies: [allowFrom({ ipBlocks: [cidr('10.0.0.0', 16)] })], req: req(), allow: false },
  { name: 'notIpBlocks', policies: [allowFrom({ notIpBlocks: [cidr('10.244.1.5', 32)] })], req: req(), allow: false },
  {
    name: 'remoteIpBlocks reads remoteIp',
    policies: [allowFrom({ remoteIpBlocks: [cidr('192.0.2.0', 24)] })],
    req: req({ remoteIp: '192.0.2.9' }),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'remoteIpBlocks ignores sourceIp',
    policies: [allowFrom({ remoteIpBlocks: [cidr('10.244.1.0', 24)] })],
    req: req({ remoteIp: '192.0.2.9' }),
    allow: false,
  },
  {
    name: 'notRemoteIpBlocks',
    policies: [allowFrom({ notRemoteIpBlocks: [cidr('192.0.2.0', 24)] })],
    req: req({ remoteIp: '192.0.2.9' }),
    allow: false,
  },
  {
    name: 'IPv6 ipBlocks',
    policies: [allowFrom({ ipBlocks: [cidr('fd00::', 64)] })],
    req: req({ sourceIp: 'fd00::5' }),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'fields of one source AND',
    policies: [allowFrom({ namespaces: [exact('a')], principals: [suffix('/sa/admin')] })],
    req: req(),
    allow: false,
  },
  {
    name: 'sources OR',
    policies: [policy('ALLOW', [rule({ from: [src({ namespaces: [exact('c')] }), src({ namespaces: [exact('a')] })] })])],
    req: req(),
    allow: true,
    by: [0, 0],
  },

  // to: every field and its not form.
  {
    name: 'hosts exact with the port stripped',
    policies: [allowTo({ hosts: [exact('api.b.svc.cluster.local')] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'hosts exact with the port',
    policies: [allowTo({ hosts: [exact('api.b.svc.cluster.local:8080')] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'hosts case-insensitive',
    policies: [allowTo({ hosts: [exact('API.b.svc.cluster.local')] })],
    req: req({ host: 'Api.B.svc.cluster.local' }),
    allow: true,
    by: [0, 0],
  },
  { name: 'hosts suffix', policies: [allowTo({ hosts: [suffix('.svc.cluster.local')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'hosts prefix', policies: [allowTo({ hosts: [prefix('api.')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'hosts other', policies: [allowTo({ hosts: [exact('web.b.svc.cluster.local')] })], req: req(), allow: false },
  { name: 'notHosts', policies: [allowTo({ notHosts: [exact('api.b.svc.cluster.local')] })], req: req(), allow: false },
  {
    name: 'IPv6 host is not cut at its last colon',
    policies: [allowTo({ hosts: [exact('fd00:')] })],
    req: req({ host: 'fd00::1' }),
    allow: false,
  },
  {
    name: 'bracketed IPv6 host with a port',
    policies: [allowTo({ hosts: [exact('[fd00::1]')] })],
    req: req({ host: '[fd00::1]:80' }),
    allow: true,
    by: [0, 0],
  },
  { name: 'ports', policies: [allowTo({ ports: [8080] })], req: req(), allow: true, by: [0, 0] },
  { name: 'ports other', policies: [allowTo({ ports: [9090] })], req: req(), allow: false },
  { name: 'notPorts', policies: [allowTo({ notPorts: [8080] })], req: req(), allow: false },
  { name: 'methods', policies: [allowTo({ methods: [exact('GET'), exact('HEAD')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'methods other', policies: [allowTo({ methods: [exact('GET')] })], req: req({ method: 'POST' }), allow: false },
  { name: 'notMethods', policies: [allowTo({ notMethods: [exact('POST')] })], req: req({ method: 'POST' }), allow: false },
  { name: 'paths exact', policies: [allowTo({ paths: [exact('/public/a')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'paths prefix', policies: [allowTo({ paths: [prefix('/public/')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'paths suffix', policies: [allowTo({ paths: [suffix('/a')] })], req: req(), allow: true, by: [0, 0] },
  { name: 'paths presence', policies: [allowTo({ paths: [presence] })], req: req(), allow: true, by: [0, 0] },
  { name: 'paths other', policies: [allowTo({ paths: [prefix('/public/')] })], req: req({ path: '/private' }), allow: false },
  { name: 'notPaths', policies: [allowTo({ notPaths: [prefix('/private')] })], req: req({ path: '/private/x' }), allow: false },
  {
    name: 'fields of one operation AND (GET /public/* but POST)',
    policies: [allowTo({ methods: [exact('GET')], paths: [prefix('/public/')] })],
    req: req({ method: 'POST', path: '/public/x' }),
    allow: false,
  },
  {
    name: 'operations OR',
    policies: [policy('ALLOW', [rule({ to: [op({ paths: [exact('/x')] }), op({ methods: [exact('GET')] })] })])],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'from AND to',
    policies: [policy('ALLOW', [rule({ from: [src({ namespaces: [exact('a')] })], to: [op({ methods: [exact('POST')] })] })])],
    req: req(),
    allow: false,
  },

  // when: every key and its notValues.
  {
    name: 'request.headers',
    policies: [allowWhen({ key: 'request.headers', header: 'x-tenant', values: [exact('t1')], notValues: [] })],
    req: req({ headers: { 'X-Tenant': 't1' } }),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'request.headers absent',
    policies: [allowWhen({ key: 'request.headers', header: 'x-tenant', values: [presence], notValues: [] })],
    req: req(),
    allow: false,
  },
  {
    name: 'request.headers notValues',
    policies: [allowWhen({ key: 'request.headers', header: 'x-tenant', values: [], notValues: [prefix('evil')] })],
    req: req({ headers: { 'x-tenant': 'evil-1' } }),
    allow: false,
  },
  {
    name: 'request.headers notValues, header absent',
    policies: [allowWhen({ key: 'request.headers', header: 'x-tenant', values: [], notValues: [presence] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'source.ip',
    policies: [allowWhen({ key: 'source.ip', values: [cidr('10.244.0.0', 16)], notValues: [] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'source.ip notValues',
    policies: [allowWhen({ key: 'source.ip', values: [], notValues: [cidr('10.244.1.5', 32)] })],
    req: req(),
    allow: false,
  },
  {
    name: 'remote.ip',
    policies: [allowWhen({ key: 'remote.ip', values: [cidr('192.0.2.0', 24)], notValues: [] })],
    req: req({ remoteIp: '192.0.2.1' }),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'remote.ip notValues',
    policies: [allowWhen({ key: 'remote.ip', values: [], notValues: [cidr('192.0.2.0', 24)] })],
    req: req({ remoteIp: '192.0.2.1' }),
    allow: false,
  },
  {
    name: 'source.namespace',
    policies: [allowWhen({ key: 'source.namespace', values: [exact('a')], notValues: [] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'source.namespace notValues',
    policies: [allowWhen({ key: 'source.namespace', values: [], notValues: [exact('a')] })],
    req: req(),
    allow: false,
  },
  {
    name: 'source.principal',
    policies: [allowWhen({ key: 'source.principal', values: [suffix('/sa/client')], notValues: [] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'source.principal notValues',
    policies: [allowWhen({ key: 'source.principal', values: [], notValues: [suffix('/sa/client')] })],
    req: req(),
    allow: false,
  },
  {
    name: 'destination.port',
    policies: [allowWhen({ key: 'destination.port', values: [8080], notValues: [] })],
    req: req(),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'destination.port notValues',
    policies: [allowWhen({ key: 'destination.port', values: [], notValues: [8080] })],
    req: req(),
    allow: false,
  },
  {
    name: 'connection.sni without TLS',
    policies: [allowWhen({ key: 'connection.sni', values: [presence], notValues: [] })],
    req: req(),
    allow: false,
  },
  {
    name: 'connection.sni',
    policies: [allowWhen({ key: 'connection.sni', values: [exact('api.example.com')], notValues: [] })],
    req: req({ sni: 'api.example.com' }),
    allow: true,
    by: [0, 0],
  },
  {
    name: 'connection.sni notValues',
    policies: [allowWhen({ key: 'connection.sni', values: [], notValues: [exact('x')] })],
    req: req({ sni: 'x' }),
    allow: false,
  },
  {
    name: 'when conditions AND',
    policies: [
      allowWhen(
        { key: 'source.namespace', values: [exact('a')], notValues: [] },
        { key: 'request.headers', header: 'x-tenant', values: [exact('t1')], notValues: [] },
      ),
    ],
    req: req({ headers: { 'x-tenant': 't2' } }),
    allow: false,
  },
  {
    name: 'DENY on a header value',
    policies: [policy('DENY', [rule({ when: [{ key: 'request.headers', header: 'x-block', values: [exact('yes')], notValues: [] }] })])],
    req: req({ headers: { 'x-block': 'yes' } }),
    allow: false,
    by: [0, 0],
  },
];

describe('L7 authorization semantics', () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = authorizeRequest(c.policies, c.req);
      const ex = explainRequest(c.policies, c.req);
      assert.deepEqual(ex.decision, d, 'authorizeRequest and explainRequest agree');
      assert.equal(d.allow, c.allow, d.reason);
      const by = c.by === undefined ? undefined : c.policies[c.by[0]];
      assert.equal(d.policy, by === undefined ? undefined : `${by.namespace}/${by.name}`);
      assert.equal(d.rule, c.by?.[1]);
      if (c.by !== undefined) assert.equal(ex.policies[c.by[0]]?.matchedRule, c.by[1]);
      assert.equal(d.dryRun?.allow, c.dryRun);
    });
  }
});

describe('explanations', () => {
  test('name the deciding policy and rule in the reason', () => {
    const p = policy('ALLOW', [rule({ to: [op({ methods: [exact('GET')], paths: [prefix('/public/')] })] })], { name: 'public-read' });
    const d = authorizeRequest([p], req());
    assert.equal(d.reason, 'allowed by ALLOW policy b/public-read rules[0]');
  });

  test('say which field of which from/to/when failed, per rule', () => {
    const p = policy('ALLOW', [
      rule({ from: [src({ principals: [exact('cluster.local/ns/a/sa/client')] }), src({ namespaces: [exact('c')] })] }),
      rule({ to: [op({ methods: [exact('GET')], paths: [prefix('/public/')] })] }),
      rule({ when: [{ key: 'request.headers', header: 'x-tenant', values: [], notValues: [exact('t1')] }] }),
    ]);
    const ex = explainRequest([p], req({ sourceIdentity: `${SPIFFE}/ns/a/sa/other`, method: 'POST', headers: { 'x-tenant': 't1' } }));
    assert.equal(ex.decision.allow, false);
    assert.deepEqual(ex.policies[0]?.why, [
      'rules[0]: from[0].source.principals [cluster.local/ns/a/sa/client] does not match "cluster.local/ns/a/sa/other"; or from[1].source.namespaces [c] does not match "a"',
      'rules[1]: to[0].operation.methods [GET] does not match "POST"',
      'rules[2]: when[0] request.headers[x-tenant] notValues [t1] matches "t1"',
    ]);
    assert.deepEqual(ex.policies[0]?.targets, ['Gateway b/waypoint']);
  });

  test('a policy without rules says so; a missing value reads (none)', () => {
    const ex = explainRequest([policy('ALLOW', []), allowFrom({ principals: [presence] })], req({ sourceIdentity: undefined }));
    assert.deepEqual(ex.policies[0]?.why, ['the policy has no rules (it matches nothing)']);
    assert.deepEqual(ex.policies[1]?.why, ['rules[0]: from[0].source.principals [*] does not match (none)']);
    assert.match(ex.decision.reason, /^no ALLOW policy matched/);
  });
});

test('a compiled policy is reused: the same object decides the same way many times', () => {
  const p = allowTo({ methods: [exact('GET')], paths: [prefix('/public/')] });
  const yes = req();
  const no = req({ path: '/private' });
  for (let i = 0; i < 1000; i++) {
    assert.equal(authorizeRequest([p], yes).allow, true);
    assert.equal(authorizeRequest([p], no).allow, false);
  }
});

test('the path policies see: no query, absolute form reduced, dot segments removed as Envoy normalises', () => {
  const cases: Array<[string, string]> = [
    ['/public/a?x=1', '/public/a'],
    ['/public/a#frag', '/public/a'],
    ['/public/../private', '/private'],
    ['/public/%2e%2E/private', '/private'],
    ['/public/..\\private', '/private'],
    ['/a/./b/../c/', '/a/c/'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['http://svc/private?x', '/private'],
    ['http://svc', '/'],
    ['/v1.2/file.json', '/v1.2/file.json'],
    ['*', '*'],
  ];
  for (const [target, path] of cases) assert.equal(l7RequestPath(target), path, target);
});

test('the target forwarded: the normalised path with the query kept, the fragment dropped', () => {
  assert.equal(normalizeRequestTarget('/public/../private?x=1&y=/..'), '/private?x=1&y=/..');
  assert.equal(normalizeRequestTarget('/a/./b#frag'), '/a/b');
  assert.equal(normalizeRequestTarget('/a?q#f'), '/a?q');
  assert.equal(normalizeRequestTarget('http://svc/p?q'), '/p?q');
});
