import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import { backend, grpcRoute, httpRoute, serviceParent } from '../../testing/route-objects.ts';
import { parseDurationMs } from './duration.ts';
import { GRPC_CONTENT_TYPE_MATCH } from './route-matches.ts';
import { parseRoute, type RuleView } from './route-objects.ts';

const onlyRule = (obj: Record<string, unknown>): RuleView => {
  const view = parseRoute(obj);
  assert.deepEqual(view.invalidRules, []);
  assert.equal(view.rules.length, 1);
  return view.rules[0] as RuleView;
};

const problemOf = (obj: Record<string, unknown>): string => {
  const view = parseRoute(obj);
  assert.equal(view.rules.length, 0, 'the rule is dropped');
  assert.equal(view.invalidRules.length, 1);
  return `${view.invalidRules[0]?.reason}: ${view.invalidRules[0]?.message}`;
};

test('an unreadable envelope names the object and field; a bad rule only drops that rule', () => {
  assert.throws(
    () => parseRoute(httpRoute('r', [], { parentRefs: [{ kind: 'Service' }] })),
    (err: unknown) =>
      err instanceof KubeObjectError && err.message === 'HTTPRoute demo/r: spec.parentRefs[0].name: required (must be a string)',
  );
  assert.throws(
    () => parseRoute({ ...httpRoute('r', []), spec: { rules: 'x' } }),
    /HTTPRoute demo\/r: spec\.rules: must be a list, got "x"/,
  );
  const view = parseRoute(httpRoute('r', [{ matches: [{ path: { type: 'Prefix', value: '/' } }] }, { backendRefs: [backend('web', 80)] }]));
  assert.equal(view.rules.length, 1);
  assert.equal(view.rules[0]?.index, 1);
  assert.deepEqual(view.invalidRules, [
    {
      index: 0,
      reason: 'UnsupportedValue',
      message: 'spec.rules[0].matches[0].path.type: must be one of Exact, PathPrefix, RegularExpression, got "Prefix"',
    },
  ]);
});

test('defaults: parentRef group/kind/namespace, a catch-all match, weight 1, an HTTPRoute without rules', () => {
  const view = parseRoute(httpRoute('r', undefined, { parentRefs: [{ name: 'wp' }] }));
  assert.deepEqual(view.parentRefs, [
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'demo', name: 'wp', written: { name: 'wp' } },
  ]);
  assert.deepEqual(view.rules, [
    { index: 0, matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }], filters: [], backendRefs: [] },
  ]);
  const rule = onlyRule(
    httpRoute('r', [{ matches: [{ headers: [{ name: 'X-Canary', value: 'true' }] }], backendRefs: [backend('web', 80)] }]),
  );
  assert.deepEqual(rule.matches, [
    { path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }], queryParams: [] },
  ]);
  assert.deepEqual(rule.backendRefs, [
    { field: 'spec.rules[0].backendRefs[0]', group: '', kind: 'Service', namespace: 'demo', name: 'web', port: 80, weight: 1, filters: [] },
  ]);
});

test('matches: path types, method, query params; the first header of a name counts; bad values are named', () => {
  const rule = onlyRule(
    httpRoute('r', [
      {
        matches: [
          {
            path: { type: 'Exact', value: '/a' },
            method: 'POST',
            headers: [
              { name: 'x-a', value: '1' },
              { name: 'X-A', value: '2' },
              { type: 'RegularExpression', name: 'x-b', value: 'v[0-9]+' },
            ],
            queryParams: [{ name: 'q', value: 'x' }],
          },
          { path: { type: 'RegularExpression', value: '/v[0-9]+/.*' } },
        ],
      },
    ]),
  );
  assert.deepEqual(rule.matches[0], {
    path: { type: 'Exact', value: '/a' },
    method: 'POST',
    headers: [
      { type: 'Exact', name: 'x-a', value: '1' },
      { type: 'RegularExpression', name: 'x-b', value: 'v[0-9]+' },
    ],
    queryParams: [{ type: 'Exact', name: 'q', value: 'x' }],
  });
  assert.deepEqual(rule.matches[1]?.path, { type: 'RegularExpression', value: '/v[0-9]+/.*' });
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ path: { type: 'PathPrefix', value: 'api' } }, /matches\[0\]\.path\.value: must be an absolute path/],
    [{ path: { type: 'Exact', value: '/a//b' } }, /must not contain '\/\/'/],
    [{ path: { type: 'RegularExpression', value: '([a-z' } }, /path\.value: invalid regular expression/],
    [{ method: 'FETCH' }, /method: must be one of GET, HEAD/],
    [{ headers: [{ name: 'bad name', value: 'x' }] }, /headers\[0\]\.name: "bad name" is not a valid header/],
  ];
  for (const [match, expected] of bad) assert.match(problemOf(httpRoute('r', [{ matches: [match] }])), expected);
});

test('filters: the four supported ones parse; RequestMirror, CORS drop the rule with UnsupportedValue', () => {
  const rule = onlyRule(
    httpRoute('r', [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
        filters: [
          {
            type: 'RequestHeaderModifier',
            requestHeaderModifier: { set: [{ name: 'x-s', value: '1' }], add: [{ name: 'x-a', value: '2' }], remove: ['x-r'] },
          },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-resp', value: 'y' }] } },
          { type: 'URLRewrite', urlRewrite: { hostname: 'new.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } },
        ],
        backendRefs: [
          backend('web', 80, {
            filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-b', value: 'v2' }] } }],
          }),
        ],
      },
    ]),
  );
  assert.deepEqual(rule.filters, [
    {
      type: 'RequestHeaderModifier',
      modifier: { set: [{ name: 'x-s', value: '1' }], add: [{ name: 'x-a', value: '2' }], remove: ['x-r'] },
    },
    { type: 'ResponseHeaderModifier', modifier: { set: [], add: [{ name: 'x-resp', value: 'y' }], remove: [] } },
    { type: 'URLRewrite', hostname: 'new.example', path: { type: 'ReplacePrefixMatch', value: '/new' } },
  ]);
  assert.deepEqual(rule.backendRefs[0]?.filters, [
    { type: 'RequestHeaderModifier', modifier: { set: [{ name: 'x-b', value: 'v2' }], add: [], remove: [] } },
  ]);
  const redirect = onlyRule(
    httpRoute('r', [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 8443, statusCode: 301 } }] }]),
  );
  assert.deepEqual(redirect.filters, [{ type: 'RequestRedirect', statusCode: 301, scheme: 'https', port: 8443 }]);
  const defaulted = onlyRule(
    httpRoute('r', [
      { filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/x' } } }] },
    ]),
  );
  assert.deepEqual(defaulted.filters, [{ type: 'RequestRedirect', statusCode: 302, path: { type: 'ReplaceFullPath', value: '/x' } }]);

  for (const type of ['RequestMirror', 'CORS']) {
    assert.equal(
      problemOf(httpRoute('r', [{ filters: [{ type }], backendRefs: [backend('web', 80)] }])),
      `UnsupportedValue: spec.rules[0].filters[0].type: filter ${type} is not supported on a HTTPRoute rule (supported: RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, ExtensionRef)`,
    );
  }
  assert.match(
    problemOf(
      httpRoute('r', [
        {
          backendRefs: [
            backend('web', 80, { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'ambit.dev', kind: 'HTTPFault', name: 'f' } }] }),
          ],
        },
      ]),
    ),
    /backendRefs\[0\]\.filters\[0\]\.type: filter ExtensionRef is not supported on a backendRef \(supported: RequestHeaderModifier, ResponseHeaderModifier\)/,
  );
  assert.match(
    problemOf(httpRoute('r', [{ filters: [{ type: 'ExtensionRef' }] }])),
    /filters\[0\]\.extensionRef: required \(must be an object\)/,
  );
  assert.match(
    problemOf(httpRoute('r', [{ backendRefs: [backend('web', 80, { filters: [{ type: 'URLRewrite', urlRewrite: {} }] })] }])),
    /backendRefs\[0\]\.filters\[0\]\.type: filter URLRewrite is not supported on a backendRef/,
  );
  assert.match(
    problemOf(httpRoute('r', [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 304 } }] }])),
    /statusCode: must be one of 301, 302, 303, 307, 308/,
  );
  assert.match(
    problemOf(
      httpRoute('r', [
        { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x', value: 'a\r\nb: c' }] } }] },
      ]),
    ),
    /set\[0\]\.value: must not contain CR, LF or NUL/,
  );
});

test('filter combinations the spec forbids: IncompatibleFilters or UnsupportedValue, with the rule named', () => {
  const redirect = { type: 'RequestRedirect', requestRedirect: { hostname: 'x.example' } };
  const rewrite = { type: 'URLRewrite', urlRewrite: { hostname: 'y.example' } };
  assert.equal(
    problemOf(httpRoute('r', [{ filters: [redirect, rewrite] }])),
    'IncompatibleFilters: spec.rules[0].filters: RequestRedirect and URLRewrite cannot be used together',
  );
  assert.equal(
    problemOf(httpRoute('r', [{ filters: [redirect], backendRefs: [backend('web', 80)] }])),
    'IncompatibleFilters: spec.rules[0]: a RequestRedirect rule must not have backendRefs',
  );
  assert.equal(
    problemOf(httpRoute('r', [{ filters: [rewrite, rewrite] }])),
    'UnsupportedValue: spec.rules[0].filters: URLRewrite may appear at most once in a rule',
  );
  assert.match(
    problemOf(
      httpRoute('r', [
        {
          matches: [{ path: { type: 'Exact', value: '/a' } }],
          filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }],
        },
      ]),
    ),
    /ReplacePrefixMatch needs every match of the rule to be a PathPrefix match/,
  );
});

test('timeouts (GEP-2257 durations, 0s disables, backendRequest ≤ request) and retry (Istio defaults)', () => {
  assert.equal(parseDurationMs('1h'), 3_600_000);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1h2m3s4ms'), 3_723_004);
  for (const bad of ['', '1', '1.5s', '-1s', '1d', '1 s', '123456s', '1h1m1s1ms1s']) assert.equal(parseDurationMs(bad), undefined, bad);

  const timed = onlyRule(httpRoute('r', [{ timeouts: { request: '2s', backendRequest: '500ms' }, backendRefs: [backend('web', 80)] }]));
  assert.equal(timed.requestTimeoutMs, 2000);
  assert.equal(timed.backendRequestTimeoutMs, 500);
  const disabled = onlyRule(httpRoute('r', [{ timeouts: { request: '0s' } }]));
  assert.equal(disabled.requestTimeoutMs, undefined);
  assert.match(
    problemOf(httpRoute('r', [{ timeouts: { request: '1s', backendRequest: '2s' } }])),
    /timeouts\.backendRequest: must not be longer than timeouts\.request/,
  );
  assert.match(problemOf(httpRoute('r', [{ timeouts: { request: '1.5s' } }])), /timeouts\.request: "1\.5s" is not a Gateway API duration/);
  assert.equal(onlyRule(httpRoute('r', [{ timeouts: { request: '99999h' } }])).requestTimeoutMs, 2_147_483_647, 'clamped to a Node timer');

  assert.deepEqual(onlyRule(httpRoute('r', [{ retry: { attempts: 3, codes: [503, 502, 503], backoff: '100ms' } }])).retry, {
    attempts: 3,
    codes: [503, 502],
    backoffMs: 100,
  });
  assert.deepEqual(onlyRule(httpRoute('r', [{ retry: {} }])).retry, { attempts: 2, codes: [] });
  assert.deepEqual(onlyRule(httpRoute('r', [{ retry: { attempts: 0 } }])).retry, { attempts: 0, codes: [] });
  assert.equal(onlyRule(httpRoute('r', [{}])).retry, undefined, 'no stanza: the waypoint applies Istio default');
  assert.match(problemOf(httpRoute('r', [{ retry: { codes: [200] } }])), /retry\.codes\[0\]: must be an integer from 400 to 599/);
});

test('GRPCRoute: method matches become path matches, each with the gRPC content-type match', () => {
  const ct = GRPC_CONTENT_TYPE_MATCH;
  const rule = onlyRule(
    grpcRoute('g', [
      {
        matches: [
          { method: { service: 'echo.Echo', method: 'Say' } },
          { method: { service: 'echo.Echo' } },
          { method: { method: 'Say' } },
          { method: { type: 'RegularExpression', service: 'echo\\..*', method: 'S.*' } },
          { method: { type: 'RegularExpression', service: 'a|b' } },
          { headers: [{ name: 'X-Tenant', value: 't1' }] },
        ],
        backendRefs: [backend('echo', 9000)],
      },
    ]),
  );
  assert.deepEqual(
    rule.matches.map((m) => [m.path, m.headers]),
    [
      [{ type: 'Exact', value: '/echo.Echo/Say' }, [ct]],
      [{ type: 'PathPrefix', value: '/echo.Echo/' }, [ct]],
      [{ type: 'RegularExpression', value: '/[^/]+/Say' }, [ct]],
      [{ type: 'RegularExpression', value: '/(?:echo\\..*)/(?:S.*)' }, [ct]],
      [{ type: 'RegularExpression', value: '/(?:a|b)/[^/]+' }, [ct]],
      [{ type: 'PathPrefix', value: '/' }, [{ type: 'Exact', name: 'x-tenant', value: 't1' }, ct]],
    ],
  );
  assert.deepEqual(onlyRule(grpcRoute('g', [{ backendRefs: [backend('echo', 9000)] }])).matches, [
    { path: { type: 'PathPrefix', value: '/' }, headers: [ct], queryParams: [] },
  ]);
  // The content-type expression is matched against the whole value, as the waypoint does.
  const re = new RegExp(`^(?:${ct.value})$`);
  for (const v of ['application/grpc', 'application/grpc+proto', 'application/grpc;charset=utf-8']) assert.ok(re.test(v), v);
  for (const v of ['application/json', 'text/plain', 'application/grpcx']) assert.ok(!re.test(v), v);

  assert.match(problemOf(grpcRoute('g', [{ matches: [{ method: {} }] }])), /matches\[0\]\.method: must set service, method or both/);
  assert.match(
    problemOf(grpcRoute('g', [{ matches: [{ method: { service: 'echo/Echo' } }] }])),
    /method\.service: "echo\/Echo" is not a gRPC service name/,
  );
  assert.match(
    problemOf(grpcRoute('g', [{ filters: [{ type: 'URLRewrite', urlRewrite: {} }] }])),
    /filter URLRewrite is not supported on a GRPCRoute rule \(supported: RequestHeaderModifier, ResponseHeaderModifier, ExtensionRef\)/,
  );
  assert.equal(parseRoute(grpcRoute('g', undefined)).rules.length, 0, 'a GRPCRoute without rules routes nothing');
});

test('status.parents of other controllers are kept verbatim; ours are recognised', () => {
  const theirs = { parentRef: { name: 'gw' }, controllerName: 'example.com/gateway', conditions: [] };
  const ours = { parentRef: serviceParent('web'), controllerName: 'istio.io/mesh-controller', conditions: [] };
  const view = parseRoute(httpRoute('r', [], { status: { parents: [theirs, ours, 'junk'] } }));
  assert.deepEqual(view.otherParents, [theirs]);
  assert.equal(view.hasOurParents, true);
  assert.equal(parseRoute(httpRoute('r', [], { status: { parents: [theirs] } })).hasOurParents, false);
});
