import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyMatch } from './authorization-policy.ts';
import type { Authorization, Match } from './core-model.ts';
import { ModelBuilder } from './model-builder.ts';
import { peerAuthentication, pod } from '../../testing/kube-objects.ts';

const ROOT = 'ambit-system';
const STATIC = `${ROOT}/istio_converted_static_strict`;
const m = (fields: Partial<Match>): Match => ({ ...emptyMatch(), ...fields });
const NO_IDENTITY = [{ presence: true }] as const;

interface PaFixture {
  readonly name: string;
  readonly ns: string;
  readonly mode?: string;
  readonly selector?: Record<string, string>;
  readonly ports?: Record<string, string>;
  readonly created?: string;
}

function paObject(p: PaFixture): Record<string, unknown> {
  return peerAuthentication(
    p.name,
    {
      ...(p.mode === undefined ? {} : { mtls: { mode: p.mode } }),
      ...(p.selector === undefined ? {} : { selector: { matchLabels: p.selector } }),
      ...(p.ports === undefined ? {} : { portLevelMtls: Object.fromEntries(Object.entries(p.ports).map(([k, mode]) => [k, { mode }])) }),
    },
    { ns: p.ns, ...(p.created === undefined ? {} : { created: p.created }) },
  );
}

/** Builds a model from PAs and one `app: a` pod per namespace; returns each pod's PA-derived policy keys. */
function model(pas: readonly PaFixture[]): { keys: Record<string, readonly string[]>; authorizations: Map<string, Authorization> } {
  const b = new ModelBuilder();
  for (const ns of ['demo', 'prod']) {
    b.apply({ type: 'upsert', object: pod(`a-${ns}`, { ns, labels: { app: 'a' } }) });
    b.apply({ type: 'upsert', object: pod(`b-${ns}`, { ns, labels: { app: 'b' } }) });
  }
  for (const p of pas) {
    const delta = b.apply({ type: 'upsert', object: paObject(p) });
    assert.deepEqual(delta.errors, []);
  }
  const snap = b.snapshot();
  return {
    keys: Object.fromEntries(snap.workloads.map((w) => [w.name, w.authorizationPolicies])),
    authorizations: new Map(snap.authorizations.map((a) => [`${a.namespace}/${a.name}`, a])),
  };
}

const cases: Array<{ name: string; pas: PaFixture[]; keys: Record<string, string[]>; generated: string[] }> = [
  {
    name: 'mesh-wide STRICT applies everywhere through the static policy',
    pas: [{ name: 'mesh', ns: ROOT, mode: 'STRICT' }],
    keys: { 'a-demo': [STATIC], 'b-demo': [STATIC], 'a-prod': [STATIC], 'b-prod': [STATIC] },
    generated: [STATIC],
  },
  {
    name: 'namespace PERMISSIVE overrides mesh STRICT',
    pas: [
      { name: 'mesh', ns: ROOT, mode: 'STRICT' },
      { name: 'ns', ns: 'demo', mode: 'PERMISSIVE' },
    ],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [STATIC], 'b-prod': [STATIC] },
    generated: [STATIC],
  },
  {
    name: 'namespace STRICT applies to that namespace only',
    pas: [{ name: 'ns', ns: 'prod', mode: 'STRICT' }],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [STATIC], 'b-prod': [STATIC] },
    generated: [STATIC],
  },
  {
    name: 'namespace UNSET inherits mesh STRICT',
    pas: [
      { name: 'mesh', ns: ROOT, mode: 'STRICT' },
      { name: 'ns', ns: 'demo' },
    ],
    keys: { 'a-demo': [STATIC], 'b-demo': [STATIC], 'a-prod': [STATIC], 'b-prod': [STATIC] },
    generated: [STATIC],
  },
  {
    name: 'workload STRICT selects its pods only',
    pas: [{ name: 'wl', ns: 'demo', mode: 'STRICT', selector: { app: 'a' } }],
    keys: { 'a-demo': [STATIC], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [STATIC],
  },
  {
    name: 'workload PERMISSIVE overrides namespace STRICT',
    pas: [
      { name: 'ns', ns: 'demo', mode: 'STRICT' },
      { name: 'wl', ns: 'demo', mode: 'PERMISSIVE', selector: { app: 'a' } },
    ],
    keys: { 'a-demo': [], 'b-demo': [STATIC], 'a-prod': [], 'b-prod': [] },
    generated: [STATIC],
  },
  {
    name: 'mesh PERMISSIVE generates nothing',
    pas: [{ name: 'mesh', ns: ROOT, mode: 'PERMISSIVE' }],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [],
  },
  {
    name: 'DISABLE behaves as PERMISSIVE (no policy, overrides mesh STRICT)',
    pas: [
      { name: 'mesh', ns: ROOT, mode: 'STRICT' },
      { name: 'ns', ns: 'demo', mode: 'DISABLE' },
    ],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [STATIC], 'b-prod': [STATIC] },
    generated: [STATIC],
  },
  {
    name: 'workload STRICT with a PERMISSIVE port uses its converted policy instead of the static one',
    pas: [{ name: 'wl', ns: 'demo', mode: 'STRICT', selector: { app: 'a' }, ports: { '9090': 'PERMISSIVE' } }],
    keys: { 'a-demo': ['demo/converted_peer_authentication_wl'], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [STATIC, 'demo/converted_peer_authentication_wl'],
  },
  {
    name: 'a STRICT port under a STRICT workload adds nothing',
    pas: [{ name: 'wl', ns: 'demo', mode: 'STRICT', selector: { app: 'a' }, ports: { '8080': 'STRICT' } }],
    keys: { 'a-demo': [STATIC], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [STATIC],
  },
  {
    name: 'oldest namespace-wide PA wins',
    pas: [
      { name: 'newer', ns: 'demo', mode: 'STRICT', created: '2026-02-01T00:00:00Z' },
      { name: 'older', ns: 'demo', mode: 'PERMISSIVE', created: '2025-01-01T00:00:00Z' },
    ],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [STATIC],
  },
  {
    name: 'a selector PA in the root namespace is ignored',
    pas: [{ name: 'root-wl', ns: ROOT, mode: 'STRICT', selector: { app: 'a' } }],
    keys: { 'a-demo': [], 'b-demo': [], 'a-prod': [], 'b-prod': [] },
    generated: [],
  },
];
for (const c of cases) {
  test(`peer authentication: ${c.name}`, () => {
    const { keys, authorizations } = model(c.pas);
    assert.deepEqual(keys, c.keys);
    assert.deepEqual([...authorizations.keys()].sort(), [...c.generated].sort());
  });
}

test('static STRICT policy: DENY requests without a peer identity', () => {
  const { authorizations } = model([{ name: 'mesh', ns: ROOT, mode: 'STRICT' }]);
  assert.deepEqual(authorizations.get(STATIC), {
    name: 'istio_converted_static_strict',
    namespace: ROOT,
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    rules: [{ clauses: [{ matches: [m({ notPrincipals: NO_IDENTITY })] }] }],
    dryRun: false,
  });
});

const convertedCases: Array<{ name: string; pas: PaFixture[]; rules: Authorization['rules'] }> = [
  {
    name: 'STRICT with PERMISSIVE ports: deny identity-less peers unless the port is excepted',
    pas: [{ name: 'wl', ns: 'demo', mode: 'STRICT', selector: { app: 'a' }, ports: { '9090': 'PERMISSIVE', '9091': 'DISABLE' } }],
    rules: [
      {
        clauses: [
          { matches: [m({ notPrincipals: NO_IDENTITY })] },
          { matches: [m({ notDestinationPorts: [9090] })] },
          { matches: [m({ notDestinationPorts: [9091] })] },
        ],
      },
    ],
  },
  {
    name: 'UNSET under namespace STRICT with a PERMISSIVE port merges the inherited STRICT',
    pas: [
      { name: 'ns', ns: 'demo', mode: 'STRICT' },
      { name: 'wl', ns: 'demo', selector: { app: 'a' }, ports: { '8080': 'PERMISSIVE' } },
    ],
    rules: [{ clauses: [{ matches: [m({ notPrincipals: NO_IDENTITY })] }, { matches: [m({ notDestinationPorts: [8080] })] }] }],
  },
  {
    name: 'PERMISSIVE with STRICT ports: deny identity-less peers on those ports only',
    pas: [{ name: 'wl', ns: 'demo', mode: 'PERMISSIVE', selector: { app: 'a' }, ports: { '443': 'STRICT', '80': 'PERMISSIVE' } }],
    rules: [{ clauses: [{ matches: [m({ notPrincipals: NO_IDENTITY, destinationPorts: [443] })] }] }],
  },
  {
    name: 'UNSET with no parent and a STRICT port',
    pas: [{ name: 'wl', ns: 'demo', selector: { app: 'a' }, ports: { '5432': 'STRICT', '22': 'STRICT' } }],
    rules: [
      { clauses: [{ matches: [m({ notPrincipals: NO_IDENTITY, destinationPorts: [22] })] }] },
      { clauses: [{ matches: [m({ notPrincipals: NO_IDENTITY, destinationPorts: [5432] })] }] },
    ],
  },
];
for (const c of convertedCases) {
  test(`converted peer authentication: ${c.name}`, () => {
    const { keys, authorizations } = model(c.pas);
    const key = 'demo/converted_peer_authentication_wl';
    assert.deepEqual(keys['a-demo'], [key]);
    const authz = authorizations.get(key);
    assert.equal(authz?.scope, 'WORKLOAD_SELECTOR');
    assert.equal(authz?.action, 'DENY');
    assert.deepEqual(authz?.rules, c.rules);
  });
}

test('peer authentication status: DISABLE and misplaced portLevelMtls are explained, root selector refused', () => {
  const b = new ModelBuilder();
  const status = (p: PaFixture): unknown => b.apply({ type: 'upsert', object: paObject(p) }).policyStatus[0]?.status;
  assert.deepEqual(status({ name: 'ok', ns: 'demo', mode: 'STRICT' }), {
    accepted: true,
    reason: 'Accepted',
    message: '',
    ignoredFields: [],
  });
  assert.deepEqual(status({ name: 'd', ns: 'demo', mode: 'DISABLE', ports: { '80': 'STRICT' } }), {
    accepted: true,
    reason: 'UnsupportedValue',
    message:
      'portLevelMtls applies only to a PeerAuthentication with a selector; it is ignored. ztunnel cannot disable mTLS: DISABLE is treated as PERMISSIVE.',
    ignoredFields: ['portLevelMtls'],
  });
  const refused = status({ name: 'r', ns: ROOT, mode: 'STRICT', selector: { app: 'a' } }) as { accepted: boolean };
  assert.equal(refused.accepted, false);
});

test('peer authentication changes move workloads between policies live', () => {
  const b = new ModelBuilder();
  b.apply({ type: 'upsert', object: pod('a-demo', { labels: { app: 'a' } }) });
  const strict = b.apply({ type: 'upsert', object: paObject({ name: 'ns', ns: 'demo', mode: 'STRICT' }) });
  assert.deepEqual(
    strict.workloads.upserted.map((w) => w.authorizationPolicies),
    [[STATIC]],
  );
  assert.deepEqual(
    strict.authorizations.upserted.map((a) => a.name),
    ['istio_converted_static_strict'],
  );
  const permissive = b.apply({ type: 'upsert', object: paObject({ name: 'ns', ns: 'demo', mode: 'PERMISSIVE' }) });
  assert.deepEqual(
    permissive.workloads.upserted.map((w) => w.authorizationPolicies),
    [[]],
  );
  assert.deepEqual(permissive.authorizations.removed, [STATIC]);
  const gone = b.apply({ type: 'delete', object: paObject({ name: 'ns', ns: 'demo' }) });
  assert.equal(gone.workloads.upserted.length, 0);
  assert.deepEqual(gone.policyStatus, []);
});
