import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteMatch, RouteRule, RouteSet } from '@ambit/core/routes';
import { assembleRouteSet, compareMatches, type AttachedRoute } from './precedence.ts';

const parent = { kind: 'Service', namespace: 'demo', hostname: 'web.demo.svc.cluster.local' } as const;

function m(path: RouteMatch['path'], o: { method?: string; headers?: number; query?: number } = {}): RouteMatch {
  const headers = Array.from({ length: o.headers ?? 0 }, (_, i) => ({ type: 'Exact' as const, name: `h${i}`, value: 'v' }));
  const queryParams = Array.from({ length: o.query ?? 0 }, (_, i) => ({ type: 'Exact' as const, name: `q${i}`, value: 'v' }));
  return { ...(path === undefined ? {} : { path }), headers, queryParams, ...(o.method === undefined ? {} : { method: o.method }) };
}

function attached(
  name: string,
  created: number,
  rules: ReadonlyArray<readonly RouteMatch[]>,
  kind: AttachedRoute['kind'] = 'HTTPRoute',
): AttachedRoute {
  return {
    kind,
    createdMs: created,
    namespacedName: name,
    rules: rules.map((matches, ruleIndex) => ({
      rule: { route: name, kind, ruleIndex, filters: [], backends: [] } satisfies RouteRule,
      matches,
    })),
  };
}

/** `route#rule:match` of each entry, in order. */
function order(set: RouteSet): string[] {
  return set.entries.map((e) => {
    const rule = set.rules[e.rule];
    assert.ok(rule !== undefined);
    return `${rule.route}#${rule.ruleIndex}:${JSON.stringify(e.match.path?.value ?? null)}`;
  });
}

const exact = (v: string) => ({ type: 'Exact', value: v }) as const;
const prefix = (v: string) => ({ type: 'PathPrefix', value: v }) as const;
const regex = (v: string) => ({ type: 'RegularExpression', value: v }) as const;

test('the spec criteria in order: Exact > longest PathPrefix > RegularExpression > method > headers > query params', () => {
  const ordered = [
    m(exact('/a')),
    m(prefix('/abc/def')),
    m(prefix('/abc'), { method: 'GET' }),
    m(prefix('/abc'), { headers: 2 }),
    m(prefix('/abc'), { headers: 1, query: 3 }),
    m(prefix('/abc'), { headers: 1, query: 1 }),
    m(prefix('/abc')),
    m(prefix('/')),
    m(regex('/v[0-9]+/.*')),
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const c = compareMatches(ordered[i] as RouteMatch, ordered[j] as RouteMatch);
      assert.equal(Math.sign(c), Math.sign(i - j), `${i} vs ${j}`);
    }
  }
  // A method match outranks header matches, which outrank query matches (the spec's list), at the same path.
  assert.ok(compareMatches(m(prefix('/'), { method: 'GET' }), m(prefix('/'), { headers: 5, query: 5 })) < 0);
  assert.ok(compareMatches(m(prefix('/'), { headers: 1 }), m(prefix('/'), { query: 5 })) < 0);
});

test('flattened across routes and sorted; ties go to the oldest route, then namespace/name, then rule and match order', () => {
  const set = assembleRouteSet(parent, [
    attached('demo/zeta', 2000, [[m(prefix('/')), m(prefix('/api'))]]),
    attached('demo/beta', 1000, [[m(prefix('/api'))], [m(exact('/login'))]]),
    attached('demo/alpha', 1000, [[m(prefix('/api')), m(prefix('/'))]]),
    attached('other/new', 3000, [[m(prefix('/api'), { headers: 1 })]]),
  ]);
  assert.deepEqual(order(set), [
    'demo/beta#1:"/login"',
    'other/new#0:"/api"',
    'demo/alpha#0:"/api"',
    'demo/beta#0:"/api"',
    'demo/zeta#0:"/api"',
    'demo/alpha#0:"/"',
    'demo/zeta#0:"/"',
  ]);
  // Rules are listed oldest route first, in rule order, and every entry points at its own rule.
  assert.deepEqual(
    set.rules.map((r) => `${r.route}#${r.ruleIndex}`),
    ['demo/alpha#0', 'demo/beta#0', 'demo/beta#1', 'demo/zeta#0', 'other/new#0'],
  );
});

test('two routes competing on one parent: age decides only when the matches tie', () => {
  const older = attached('demo/foo', 1000, [[m(prefix('/'))], [m(prefix('/foo'), { headers: 1 })]]);
  const newer = attached('demo/bar', 2000, [[m(prefix('/foo'), { headers: 1 })], [m(exact('/foo'))]]);
  assert.deepEqual(order(assembleRouteSet(parent, [newer, older])), [
    'demo/bar#1:"/foo"',
    'demo/foo#1:"/foo"',
    'demo/bar#0:"/foo"',
    'demo/foo#0:"/"',
  ]);
});

test('a gRPC catch-all (one content-type header match) goes before an HTTP catch-all; unknown creation times sort last', () => {
  const ct = { type: 'RegularExpression', name: 'content-type', value: 'application/grpc([+;].*)?' } as const;
  const set = assembleRouteSet(parent, [
    attached('demo/http', 1000, [[m(prefix('/'))]]),
    attached('demo/grpc', 2000, [[{ path: prefix('/'), headers: [ct], queryParams: [] }]], 'GRPCRoute'),
    attached('demo/undated', Number.POSITIVE_INFINITY, [[m(prefix('/'))]]),
  ]);
  assert.deepEqual(order(set), ['demo/grpc#0:"/"', 'demo/http#0:"/"', 'demo/undated#0:"/"']);
});
