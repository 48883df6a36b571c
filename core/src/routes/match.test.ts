import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modifyHeaders, pickBackend, rewritePath, selectRoute, type RequestFacts } from './match.ts';
import type { RouteBackend, RouteMatch, RouteRule, RouteSet } from './types.ts';

function request(path: string, init: { method?: string; headers?: Record<string, string> } = {}): RequestFacts {
  const q = path.indexOf('?');
  const headers = init.headers ?? {};
  return {
    method: init.method ?? 'GET',
    path: q < 0 ? path : path.slice(0, q),
    query: q < 0 ? '' : path.slice(q + 1),
    header: (name) => headers[name],
  };
}

function rule(route: string, backends: RouteBackend[] = []): RouteRule {
  return { route, kind: 'HTTPRoute', ruleIndex: 0, filters: [], backends };
}

const match = (m: Partial<RouteMatch>): RouteMatch => ({ headers: [], queryParams: [], ...m });

/** One rule per match, entries in the given order: the result names the rule that won. */
function setOf(...matches: RouteMatch[]): RouteSet {
  return {
    parent: { kind: 'Service', namespace: 'default', hostname: 'svc.default.svc.cluster.local' },
    rules: matches.map((_, i) => rule(`default/r${i}`)),
    entries: matches.map((m, i) => ({ match: m, rule: i })),
  };
}

const winner = (set: RouteSet, req: RequestFacts): string | undefined => selectRoute(set, req)?.rule.route;

test('PathPrefix matches whole path segments, ignoring a trailing slash on the prefix', () => {
  for (const prefix of ['/foo', '/foo/']) {
    const set = setOf(match({ path: { type: 'PathPrefix', value: prefix } }));
    for (const p of ['/foo', '/foo/', '/foo/bar', '/foo/bar/baz', '/foo?x=1'])
      assert.equal(winner(set, request(p)), 'default/r0', `${prefix} ~ ${p}`);
    for (const p of ['/foobar', '/fo', '/', '/bar/foo', '/Foo']) assert.equal(winner(set, request(p)), undefined, `${prefix} !~ ${p}`);
  }
  const root = setOf(match({ path: { type: 'PathPrefix', value: '/' } }));
  for (const p of ['/', '/anything', '/a/b']) assert.equal(winner(root, request(p)), 'default/r0');
});

test('Exact matches the path exactly, case-sensitively and without the query', () => {
  const set = setOf(match({ path: { type: 'Exact', value: '/foo' } }));
  assert.equal(winner(set, request('/foo')), 'default/r0');
  assert.equal(winner(set, request('/foo?a=b')), 'default/r0');
  for (const p of ['/foo/', '/foo/bar', '/Foo', '/fo']) assert.equal(winner(set, request(p)), undefined, p);
});

test('RegularExpression is a full match', () => {
  const set = setOf(match({ path: { type: 'RegularExpression', value: '/api/v[0-9]+/.*' } }));
  assert.equal(winner(set, request('/api/v2/users')), 'default/r0');
  assert.equal(winner(set, request('/x/api/v2/users')), undefined);
  const partial = setOf(match({ path: { type: 'RegularExpression', value: '/a|/b' } }));
  // Anchoring wraps the whole alternation: `/ab` matches neither branch fully.
  assert.equal(winner(partial, request('/b')), 'default/r0');
  assert.equal(winner(partial, request('/ab')), undefined);
});

test('headers: names arrive lower-case, values compare exactly or by full regex; every header must match', () => {
  const set = setOf(
    match({
      headers: [
        { type: 'Exact', name: 'x-canary', value: 'true' },
        { type: 'RegularExpression', name: 'x-user', value: 'u[0-9]+' },
      ],
    }),
  );
  assert.equal(winner(set, request('/', { headers: { 'x-canary': 'true', 'x-user': 'u42' } })), 'default/r0');
  assert.equal(winner(set, request('/', { headers: { 'x-canary': 'True', 'x-user': 'u42' } })), undefined);
  assert.equal(winner(set, request('/', { headers: { 'x-canary': 'true', 'x-user': 'u42x' } })), undefined);
  assert.equal(winner(set, request('/', { headers: { 'x-canary': 'true' } })), undefined);
});

test('query parameters: exact names, first value, percent-decoded, a bare flag has the empty value', () => {
  const set = setOf(match({ queryParams: [{ type: 'Exact', name: 'version', value: 'v 2' }] }));
  assert.equal(winner(set, request('/?version=v%202')), 'default/r0');
  assert.equal(winner(set, request('/?a=1&version=v%202&version=x')), 'default/r0');
  assert.equal(winner(set, request('/?version=x&version=v%202')), undefined, 'only the first value counts');
  assert.equal(winner(set, request('/?Version=v%202')), undefined, 'names are case-sensitive');
  assert.equal(winner(set, request('/?versions=v%202')), undefined);
  assert.equal(winner(set, request('/')), undefined);
  const flag = setOf(match({ queryParams: [{ type: 'Exact', name: 'debug', value: '' }] }));
  assert.equal(winner(flag, request('/?debug')), 'default/r0');
  assert.equal(winner(flag, request('/?x=1&debug&')), 'default/r0');
  const re = setOf(match({ queryParams: [{ type: 'RegularExpression', name: 'id', value: '[0-9]+' }] }));
  assert.equal(winner(re, request('/?id=123')), 'default/r0');
  assert.equal(winner(re, request('/?id=12a')), undefined);
  const bad = setOf(match({ queryParams: [{ type: 'Exact', name: 'q', value: '%zz' }] }));
  assert.equal(winner(bad, request('/?q=%zz')), 'default/r0', 'a malformed escape compares as written');
});

test('method, and every populated field of one match must hold', () => {
  const set = setOf(match({ method: 'POST', path: { type: 'PathPrefix', value: '/api' } }), match({}));
  assert.equal(winner(set, request('/api/x', { method: 'POST' })), 'default/r0');
  assert.equal(winner(set, request('/api/x', { method: 'GET' })), 'default/r1');
  assert.equal(winner(set, request('/other', { method: 'POST' })), 'default/r1');
});

test('the first matching entry wins, and the choice carries the rule index and the matched prefix', () => {
  const set: RouteSet = {
    parent: { kind: 'Gateway', namespace: 'default', name: 'waypoint' },
    rules: [rule('default/a'), rule('default/b')],
    entries: [
      { match: match({ path: { type: 'Exact', value: '/v1/x' } }), rule: 1 },
      { match: match({ path: { type: 'PathPrefix', value: '/v1' } }), rule: 0 },
      { match: match({}), rule: 1 },
    ],
  };
  assert.deepEqual(selectRoute(set, request('/v1/x')), { rule: set.rules[1], ruleIndex: 1 });
  assert.deepEqual(selectRoute(set, request('/v1/y')), { rule: set.rules[0], ruleIndex: 0, matchedPrefix: '/v1' });
  assert.deepEqual(selectRoute(set, request('/z')), { rule: set.rules[1], ruleIndex: 1 });
  assert.equal(selectRoute({ ...set, entries: [] }, request('/z')), undefined);
  assert.equal(
    selectRoute({ ...set, entries: [{ match: match({}), rule: 7 }] }, request('/z')),
    undefined,
    'a dangling index never matches',
  );
});

const backend = (name: string, weight: number): RouteBackend => ({
  weight,
  service: { namespace: 'default', hostname: `${name}.default.svc.cluster.local`, port: 80 },
  filters: [],
});

test('pickBackend splits by weight per call and never picks a zero weight', () => {
  const r = rule('default/canary', [backend('v1', 90), backend('off', 0), backend('v2', 10)]);
  const name = (b: RouteBackend | undefined): string | undefined => b?.service?.hostname.split('.')[0];
  assert.equal(name(pickBackend(r, () => 0)), 'v1');
  assert.equal(name(pickBackend(r, () => 0.8999)), 'v1');
  assert.equal(name(pickBackend(r, () => 0.9)), 'v2');
  assert.equal(name(pickBackend(r, () => 0.999999999)), 'v2');
  // A deterministic sweep over [0,1) gives the exact proportions.
  const counts = new Map<string | undefined, number>();
  for (let i = 0; i < 1000; i++) {
    const n = name(pickBackend(r, () => i / 1000));
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { v1: 900, v2: 100 });
  assert.equal(pickBackend(rule('x', [backend('a', 0), backend('b', 0)])), undefined);
  assert.equal(pickBackend(rule('x', [])), undefined);
  assert.equal(pickBackend(rule('x', [backend('a', 0)])), undefined);
  assert.equal(name(pickBackend(rule('x', [backend('a', 1)]), () => assert.fail('one backend needs no draw'))), 'a');
  // Float sums may leave the point just past the last weight: it still lands on a backend with weight.
  assert.equal(name(pickBackend(rule('x', [backend('a', 0.1), backend('b', 0.2), backend('c', 0)]), () => 0.9999999999999999)), 'b');
});

test('ReplacePrefixMatch follows the Gateway API table', () => {
  // https://gateway-api.sigs.k8s.io/reference/spec/#httppathmodifier
  const table: Array<[path: string, prefix: string, replace: string, expected: string]> = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
  ];
  for (const [path, prefix, value, expected] of table) {
    assert.equal(rewritePath(path, { type: 'ReplacePrefixMatch', value }, prefix), expected, `${path} ${prefix} -> ${value}`);
  }
  assert.equal(rewritePath('/a/b', { type: 'ReplacePrefixMatch', value: '/v2' }, '/'), '/v2/a/b');
  assert.equal(rewritePath('/a/b', { type: 'ReplacePrefixMatch', value: '/v2' }, undefined), '/v2/a/b');
  assert.equal(rewritePath('/foo/bar?x=1&y', { type: 'ReplacePrefixMatch', value: '/xyz' }, '/foo'), '/xyz/bar?x=1&y');
  assert.equal(rewritePath('/foobar', { type: 'ReplacePrefixMatch', value: '/xyz' }, '/foo'), '/xyz/foobar', 'never splits a segment');
});

test('ReplaceFullPath replaces the whole path and keeps the query', () => {
  assert.equal(rewritePath('/foo/bar', { type: 'ReplaceFullPath', value: '/new' }, '/foo'), '/new');
  assert.equal(rewritePath('/foo/bar?a=1', { type: 'ReplaceFullPath', value: '/new' }, undefined), '/new?a=1');
  assert.equal(rewritePath('/foo', { type: 'ReplaceFullPath', value: '' }, undefined), '/');
});

test('modifyHeaders removes, then sets, then adds; names compare case-insensitively', () => {
  const pairs: Array<[string, string]> = [
    ['Host', 'svc'],
    ['X-Env', 'prod'],
    ['accept', '*/*'],
    ['x-env', 'second'],
    ['X-Drop', '1'],
  ];
  const out = modifyHeaders(pairs, {
    set: [
      { name: 'x-ENV', value: 'canary' },
      { name: 'X-New', value: 'n' },
    ],
    add: [
      { name: 'Accept', value: 'text/plain' },
      { name: 'x-drop', value: 'added-after-remove' },
    ],
    remove: ['x-drop'],
  });
  assert.deepEqual(out, [
    ['Host', 'svc'],
    ['x-env', 'canary'],
    ['accept', '*/*'],
    ['x-new', 'n'],
    ['accept', 'text/plain'],
    ['x-drop', 'added-after-remove'],
  ]);
  assert.deepEqual(pairs[1], ['X-Env', 'prod'], 'the input is not changed');
  assert.deepEqual(modifyHeaders(pairs, { set: [], add: [], remove: [] }), pairs);
  assert.notEqual(modifyHeaders(pairs, { set: [], add: [], remove: [] }), pairs, 'always a new list');
});
