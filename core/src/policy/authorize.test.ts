import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyMatch, type Authorization, type Clause, type Match, type Rule } from '../model/types.ts';
import { authorize, type ConnectionFacts } from './authorize.ts';
import { explain } from './explain.ts';
import { compilePolicies } from './policy-set.ts';
import { createSourceFactsCache } from './source-cache.ts';
import { policiesInScope } from './scope.ts';

// Table-driven cases of ztunnel's L4 semantics (reference istio-ambient.md §6; ztunnel src/rbac.rs tests). Every case
// is decided three ways — authorize() over the list, the indexed PolicySet, and explain() — which must agree.

const SPIFFE = 'spiffe://cluster.local';
/** One cache for every indexed set here, as a proxy shares one across its sets. */
const sources = createSourceFactsCache();
const conn = (over: Partial<ConnectionFacts> = {}): ConnectionFacts => ({
  sourceIdentity: `${SPIFFE}/ns/a/sa/client`,
  sourceIp: '10.244.1.5',
  destinationIp: '10.244.2.7',
  destinationPort: 8080,
  ...over,
});
const plaintext = (over: Partial<ConnectionFacts> = {}): ConnectionFacts => conn({ sourceIdentity: undefined, ...over });

const m = (fields: Partial<Match>): Match => ({ ...emptyMatch(), ...fields });
const clause = (...matches: Match[]): Clause => ({ matches });
const rule = (...clauses: Clause[]): Rule => ({ clauses });
let seq = 0;
function policy(action: 'ALLOW' | 'DENY', rules: Rule[], extra: Partial<Authorization> = {}): Authorization {
  seq += 1;
  return { name: `${action.toLowerCase()}-${seq}`, namespace: 'b', scope: 'NAMESPACE', action, rules, dryRun: false, ...extra };
}
const allowIf = (fields: Partial<Match>, extra: Partial<Authorization> = {}): Authorization =>
  policy('ALLOW', [rule(clause(m(fields)))], extra);
const denyIf = (fields: Partial<Match>, extra: Partial<Authorization> = {}): Authorization =>
  policy('DENY', [rule(clause(m(fields)))], extra);

interface Case {
  readonly name: string;
  readonly policies: Authorization[];
  readonly conn: ConnectionFacts;
  readonly allow: boolean;
  /** Index (in `policies`) of the policy that decided, when one did. */
  readonly by?: number;
  /** Expected dry-run outcome, when dry-run policies disagree with the decision. */
  readonly dryRun?: boolean;
}

const exact = (v: string) => ({ exact: v });
const cidr = (address: string, length: number) => ({ address, length });

const cases: Case[] = [
  // Decision order.
  { name: 'no policy: allowed', policies: [], conn: conn(), allow: true },
  { name: 'empty ALLOW policy (no rules) denies everything', policies: [policy('ALLOW', [])], conn: conn(), allow: false },
  { name: 'empty DENY policy (no rules) denies nothing', policies: [policy('DENY', [])], conn: conn(), allow: true },
  { name: 'ALLOW rule with no clauses allows everything', policies: [policy('ALLOW', [rule()])], conn: plaintext(), allow: true, by: 0 },
  { name: 'DENY rule with no clauses denies everything', policies: [policy('DENY', [rule()])], conn: conn(), allow: false, by: 0 },
  { name: 'all-empty match matches nothing (ALLOW)', policies: [policy('ALLOW', [rule(clause(m({})))])], conn: conn(), allow: false },
  { name: 'all-empty match matches nothing (DENY)', policies: [policy('DENY', [rule(clause(m({})))])], conn: conn(), allow: true },
  {
    name: 'DENY beats a matching ALLOW',
    policies: [allowIf({ namespaces: [exact('a')] }), denyIf({ destinationPorts: [8080] })],
    conn: conn(),
    allow: false,
    by: 1,
  },
  { name: 'DENY only: non-matching connection allowed', policies: [denyIf({ destinationPorts: [9090] })], conn: conn(), allow: true },
  {
    name: 'one of several ALLOW policies suffices',
    policies: [allowIf({ namespaces: [exact('x')] }), allowIf({ namespaces: [exact('a')] })],
    conn: conn(),
    allow: true,
    by: 1,
  },
  {
    name: 'ALLOW present but none matches: denied',
    policies: [allowIf({ namespaces: [exact('x')] }), allowIf({ destinationPorts: [1] })],
    conn: conn(),
    allow: false,
  },
  // principals / notPrincipals and the string forms.
  {
    name: 'principal exact (without spiffe://)',
    policies: [allowIf({ principals: [exact('cluster.local/ns/a/sa/client')] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'principal exact, other identity',
    policies: [allowIf({ principals: [exact('cluster.local/ns/a/sa/other')] })],
    conn: conn(),
    allow: false,
  },
  {
    name: 'principal prefix x*',
    policies: [allowIf({ principals: [{ prefix: 'cluster.local/ns/a/' }] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'principal prefix x*, no match',
    policies: [allowIf({ principals: [{ prefix: 'cluster.local/ns/z/' }] })],
    conn: conn(),
    allow: false,
  },
  { name: 'principal suffix *x', policies: [allowIf({ principals: [{ suffix: '/sa/client' }] })], conn: conn(), allow: true, by: 0 },
  { name: 'principal suffix *x, no match', policies: [allowIf({ principals: [{ suffix: '/sa/admin' }] })], conn: conn(), allow: false },
  {
    name: 'principal presence * matches any identity',
    policies: [allowIf({ principals: [{ presence: true }] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'principal presence * does not match plaintext',
    policies: [allowIf({ principals: [{ presence: true }] })],
    conn: plaintext(),
    allow: false,
  },
  {
    name: 'values of one field OR',
    policies: [allowIf({ principals: [exact('cluster.local/ns/x/sa/y'), exact('cluster.local/ns/a/sa/client')] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'notPrincipals: listed identity denied by DENY',
    policies: [denyIf({ notPrincipals: [exact('cluster.local/ns/a/sa/client')] })],
    conn: conn(),
    allow: true,
  },
  {
    name: 'notPrincipals presence: plaintext is denied (STRICT)',
    policies: [denyIf({ notPrincipals: [{ presence: true }] })],
    conn: plaintext(),
    allow: false,
    by: 0,
  },
  {
    name: 'notPrincipals presence: mTLS passes (STRICT)',
    policies: [denyIf({ notPrincipals: [{ presence: true }] })],
    conn: conn(),
    allow: true,
  },
  // namespaces / serviceAccounts.
  { name: 'namespace exact', policies: [allowIf({ namespaces: [exact('a')] })], conn: conn(), allow: true, by: 0 },
  {
    name: 'namespace from a plaintext source never matches',
    policies: [allowIf({ namespaces: [exact('a')] })],
    conn: plaintext(),
    allow: false,
  },
  {
    name: 'namespace prefix',
    policies: [allowIf({ namespaces: [{ prefix: 'a' }] })],
    conn: conn({ sourceIdentity: `${SPIFFE}/ns/abc/sa/s` }),
    allow: true,
    by: 0,
  },
  { name: 'notNamespaces excludes the listed one', policies: [allowIf({ notNamespaces: [exact('a')] })], conn: conn(), allow: false },
  { name: 'notNamespaces lets others in', policies: [allowIf({ notNamespaces: [exact('z')] })], conn: conn(), allow: true, by: 0 },
  {
    name: 'notNamespaces with plaintext (no namespace) holds',
    policies: [allowIf({ notNamespaces: [exact('z')] })],
    conn: plaintext(),
    allow: true,
    by: 0,
  },
  {
    name: 'serviceAccount namespace/name',
    policies: [allowIf({ serviceAccounts: [{ namespace: 'a', serviceAccount: 'client' }] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'serviceAccount in another namespace',
    policies: [allowIf({ serviceAccounts: [{ namespace: 'b', serviceAccount: 'client' }] })],
    conn: conn(),
    allow: false,
  },
  {
    name: 'notServiceAccounts',
    policies: [denyIf({ notServiceAccounts: [{ namespace: 'a', serviceAccount: 'client' }] })],
    conn: conn({ sourceIdentity: `${SPIFFE}/ns/a/sa/other` }),
    allow: false,
    by: 0,
  },
  // IPs and ports.
  {
    name: 'ipBlocks: plaintext source in range',
    policies: [allowIf({ sourceIps: [cidr('10.244.1.0', 24)] })],
    conn: plaintext(),
    allow: true,
    by: 0,
  },
  { name: 'ipBlocks: out of range', policies: [allowIf({ sourceIps: [cidr('10.244.9.0', 24)] })], conn: plaintext(), allow: false },
  { name: 'ipBlocks: single host', policies: [allowIf({ sourceIps: [cidr('10.244.1.5', 32)] })], conn: conn(), allow: true, by: 0 },
  {
    name: 'notIpBlocks',
    policies: [denyIf({ notSourceIps: [cidr('10.244.1.0', 24)] })],
    conn: plaintext({ sourceIp: '10.9.9.9' }),
    allow: false,
    by: 0,
  },
  {
    name: 'IPv6 source vs IPv4 block never matches',
    policies: [allowIf({ sourceIps: [cidr('10.0.0.0', 8)] })],
    conn: conn({ sourceIp: 'fd00::1' }),
    allow: false,
  },
  { name: 'IPv6 block', policies: [allowIf({ sourceIps: [cidr('fd00::', 64)] })], conn: conn({ sourceIp: 'fd00::7' }), allow: true, by: 0 },
  {
    name: 'destination ip (when destination.ip)',
    policies: [denyIf({ destinationIps: [cidr('10.244.2.7', 32)] })],
    conn: conn(),
    allow: false,
    by: 0,
  },
  { name: 'notDestinationIps', policies: [allowIf({ notDestinationIps: [cidr('10.244.2.0', 24)] })], conn: conn(), allow: false },
  { name: 'ports: deny one port', policies: [denyIf({ destinationPorts: [8080] })], conn: conn(), allow: false, by: 0 },
  {
    name: 'ports: other port passes',
    policies: [denyIf({ destinationPorts: [8080] })],
    conn: conn({ destinationPort: 9090 }),
    allow: true,
  },
  { name: 'notPorts', policies: [allowIf({ notDestinationPorts: [8080] })], conn: conn(), allow: false },
  // Nesting: populated fields AND within a match, matches OR within a clause, clauses AND within a rule, rules OR.
  {
    name: 'fields AND within a match (both hold)',
    policies: [allowIf({ namespaces: [exact('a')], destinationPorts: [8080] })],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'fields AND within a match (one fails)',
    policies: [allowIf({ namespaces: [exact('a')], destinationPorts: [9] })],
    conn: conn(),
    allow: false,
  },
  {
    name: 'matches OR within a clause',
    policies: [policy('ALLOW', [rule(clause(m({ namespaces: [exact('x')] }), m({ destinationPorts: [8080] })))])],
    conn: conn(),
    allow: true,
    by: 0,
  },
  {
    name: 'clauses AND within a rule (from and to)',
    policies: [policy('ALLOW', [rule(clause(m({ namespaces: [exact('a')] })), clause(m({ destinationPorts: [9] })))])],
    conn: conn(),
    allow: false,
  },
  {
    name: 'rules OR within a policy',
    policies: [policy('ALLOW', [rule(clause(m({ namespaces: [exact('x')] }))), rule(clause(m({ destinationPorts: [8080] })))])],
    conn: conn(),
    allow: true,
    by: 0,
  },
  { name: 'a clause with no alternatives never holds', policies: [policy('ALLOW', [rule(clause())])], conn: conn(), allow: false },
  // Dry run.
  {
    name: 'dry-run DENY that matches: allowed, reported',
    policies: [denyIf({ destinationPorts: [8080] }, { dryRun: true })],
    conn: conn(),
    allow: true,
    dryRun: false,
  },
  {
    name: 'dry-run ALLOW only: allowed (no enforced ALLOW), would deny',
    policies: [allowIf({ namespaces: [exact('x')] }, { dryRun: true })],
    conn: conn(),
    allow: true,
    dryRun: false,
  },
  {
    name: 'dry-run ALLOW that matches: no report',
    policies: [allowIf({ namespaces: [exact('a')] }, { dryRun: true })],
    conn: conn(),
    allow: true,
  },
  {
    name: 'dry-run DENY does not override an enforced ALLOW miss',
    policies: [allowIf({ namespaces: [exact('x')] }), denyIf({}, { dryRun: true })],
    conn: conn(),
    allow: false,
  },
  // Scopes are chosen by the caller (MeshState.policiesFor); within scope they combine the same way.
  {
    name: 'mesh-wide DENY and namespace ALLOW combine',
    policies: [denyIf({ destinationPorts: [22] }, { namespace: 'ambit-system', scope: 'GLOBAL' }), allowIf({ namespaces: [exact('a')] })],
    conn: conn({ destinationPort: 22 }),
    allow: false,
    by: 0,
  },
  {
    name: 'selector ALLOW next to a namespace ALLOW',
    policies: [
      allowIf({ namespaces: [exact('x')] }),
      allowIf({ principals: [exact('cluster.local/ns/a/sa/client')] }, { scope: 'WORKLOAD_SELECTOR' }),
    ],
    conn: conn(),
    allow: true,
    by: 1,
  },
];

describe('L4 authorization (table)', () => {
  test(`has at least 40 cases (${cases.length})`, () => assert.ok(cases.length >= 40));
  for (const c of cases) {
    test(c.name, () => {
      const direct = authorize(c.policies, c.conn);
      assert.equal(direct.allow, c.allow, direct.reason);
      if (c.by !== undefined) assert.equal(direct.policy, `${c.policies[c.by]?.namespace}/${c.policies[c.by]?.name}`);
      assert.equal(direct.dryRun?.allow, c.dryRun, `dry-run outcome ${JSON.stringify(direct.dryRun)}`);
      const indexed = compilePolicies(c.policies, sources).decide(c.conn);
      assert.equal(indexed.allow, direct.allow, 'the indexed set decides as the list');
      assert.equal(indexed.dryRun?.allow, direct.dryRun?.allow);
      const ex = explain(c.policies, c.conn);
      assert.equal(ex.decision.allow, direct.allow);
      for (const p of ex.policies) {
        if (p.matchedRule === undefined) assert.ok(p.why.length > 0, `${p.policy}: an unmatched policy says why`);
      }
    });
  }
});

describe('explain', () => {
  test('names the failing field and its values', () => {
    const p = allowIf({ namespaces: [exact('x')], destinationPorts: [8080] });
    const ex = explain([p], conn());
    assert.equal(ex.decision.allow, false);
    assert.equal(ex.policies[0]?.matchedRule, undefined);
    assert.match(ex.policies[0]?.why[0] ?? '', /rules\[0\]: clause 0 does not hold: namespaces \[x\]/);
  });
  test('reports the matching rule index', () => {
    const p = policy('DENY', [rule(clause(m({ destinationPorts: [1] }))), rule(clause(m({ destinationPorts: [8080] })))]);
    assert.equal(explain([p], conn()).policies[0]?.matchedRule, 1);
  });
});

describe('indexed policy set', () => {
  test('10 000 principal-scoped ALLOW policies: only the caller’s is consulted, and decisions match the list', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => allowIf({ principals: [exact(`cluster.local/ns/n${i}/sa/s`)] }));
    const set = compilePolicies(many, sources);
    for (const i of [0, 17, 9999]) {
      const c = conn({ sourceIdentity: `${SPIFFE}/ns/n${i}/sa/s` });
      assert.equal(set.decide(c).allow, true);
      assert.equal(set.decide(c).policy, `${many[i]?.namespace}/${many[i]?.name}`);
    }
    assert.equal(set.decide(conn()).allow, false, 'an unknown caller meets ALLOW policies and no match: denied');
    assert.equal(set.decide(plaintext()).allow, false);
  });
});

describe('indexed set = list, on random policies', () => {
  test('2 000 random policy sets × 20 connections decide alike (allow, deciding policy, dry run)', () => {
    let s = 7;
    const rnd = (n: number): number => (s = (s * 1103515245 + 12345) % 2 ** 31) % n;
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    const principals = ['cluster.local/ns/a/sa/client', 'cluster.local/ns/b/sa/x', 'cluster.local/ns/a/sa/y'];
    const strings = (vals: string[]) => [
      exact(pick(vals)),
      { prefix: pick(vals).slice(0, 3) },
      { suffix: pick(vals).slice(-3) },
      { presence: true as const },
    ];
    const randomMatch = (): Match => {
      const f: { -readonly [K in keyof Match]?: Match[K] } = {};
      if (rnd(3) === 0) f.principals = [pick(strings(principals))];
      if (rnd(4) === 0) f.notPrincipals = [pick(strings(principals))];
      if (rnd(3) === 0) f.namespaces = [pick(strings(['a', 'b', 'c']))];
      if (rnd(5) === 0) f.notNamespaces = [exact(pick(['a', 'b']))];
      if (rnd(5) === 0) f.serviceAccounts = [{ namespace: pick(['a', 'b']), serviceAccount: pick(['client', 'x']) }];
      if (rnd(4) === 0) f.sourceIps = [cidr(pick(['10.244.1.0', '10.0.0.0', 'fd00::']), pick([8, 24, 32]))];
      if (rnd(6) === 0) f.notSourceIps = [cidr('10.244.1.5', 32)];
      if (rnd(4) === 0) f.destinationPorts = [pick([8080, 9090])];
      if (rnd(6) === 0) f.notDestinationPorts = [8080];
      return m(f);
    };
    const randomRule = (): Rule =>
      rule(...Array.from({ length: rnd(3) }, () => clause(...Array.from({ length: 1 + rnd(2) }, randomMatch))));
    const conns = [
      conn(),
      plaintext(),
      conn({ sourceIdentity: `${SPIFFE}/ns/b/sa/x`, destinationPort: 9090 }),
      conn({ sourceIp: 'fd00::5' }),
      plaintext({ sourceIp: '10.0.3.4' }),
    ];
    for (let round = 0; round < 2000; round++) {
      const policies = Array.from({ length: 1 + rnd(5) }, () =>
        policy(pick(['ALLOW', 'DENY'] as const), Array.from({ length: rnd(3) }, randomRule), { dryRun: rnd(5) === 0 }),
      );
      const set = compilePolicies(policies, sources);
      for (let i = 0; i < 20; i++) {
        const c = conns[i % conns.length] as ConnectionFacts;
        const a = authorize(policies, c);
        const b = set.decide(c);
        assert.equal(b.allow, a.allow, `round ${round}: ${JSON.stringify(policies)} ${JSON.stringify(c)}`);
        assert.equal(b.dryRun?.allow, a.dryRun?.allow, `round ${round} dry run`);
        if (!a.allow || a.policy !== undefined) assert.equal(b.policy === undefined, a.policy === undefined, `round ${round} policy`);
      }
    }
  });
});

describe('scope: which policies apply to a destination', () => {
  const mk = (name: string, namespace: string, scope: Authorization['scope']): Authorization => ({
    name,
    namespace,
    scope,
    action: 'ALLOW',
    rules: [],
    dryRun: false,
  });
  const all = [
    mk('mesh', 'ambit-system', 'GLOBAL'),
    mk('stray-global', 'b', 'GLOBAL'),
    mk('ns-b', 'b', 'NAMESPACE'),
    mk('ns-c', 'c', 'NAMESPACE'),
    mk('sel', 'b', 'WORKLOAD_SELECTOR'),
    mk('sel-other', 'b', 'WORKLOAD_SELECTOR'),
  ];
  const byKey = (k: string): Authorization | undefined => all.find((a) => `${a.namespace}/${a.name}` === k);
  test('root-namespace GLOBAL + own NAMESPACE + listed selector policies, nothing else', () => {
    const got = policiesInScope(
      { namespace: 'b', authorizationPolicies: ['b/sel', 'b/missing', 'b/ns-b'] },
      all,
      byKey,
      'ambit-system',
    ).map((a) => a.name);
    assert.deepEqual(got, ['mesh', 'ns-b', 'sel']);
  });
  test('a workload elsewhere sees only the mesh-wide policy', () => {
    assert.deepEqual(
      policiesInScope({ namespace: 'z', authorizationPolicies: [] }, all, byKey, 'ambit-system').map((a) => a.name),
      ['mesh'],
    );
  });
});

test('the source cache is bounded: least recently used identities go first, busy ones stay', () => {
  const small = createSourceFactsCache(2);
  const a = small.factsOf(`${SPIFFE}/ns/a/sa/x`);
  const b = small.factsOf(`${SPIFFE}/ns/b/sa/x`);
  assert.equal(small.factsOf(`${SPIFFE}/ns/a/sa/x`), a, 'a hit returns the same parsed facts');
  small.factsOf(`${SPIFFE}/ns/c/sa/x`); // evicts b, the least recently used
  assert.equal(small.factsOf(`${SPIFFE}/ns/a/sa/x`), a, 'a was used last: still held');
  const again = small.factsOf(`${SPIFFE}/ns/b/sa/x`);
  assert.notEqual(again, b, 'b was evicted: parsed anew');
  assert.deepEqual(again, { principal: 'cluster.local/ns/b/sa/x', namespace: 'b', serviceAccount: 'x' });
  assert.deepEqual(small.factsOf(undefined), { principal: undefined, namespace: undefined, serviceAccount: undefined });
});
