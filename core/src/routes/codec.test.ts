import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldError } from '../fields/field-error.ts';
import { decodeRouteSet, encodeRouteSet } from './codec.ts';
import { routeSetKey, type RouteSet } from './types.ts';

const full: RouteSet = {
  parent: { kind: 'Service', namespace: 'demo', hostname: 'api.demo.svc.cluster.local', port: 80 },
  rules: [
    {
      route: 'demo/canary',
      kind: 'HTTPRoute',
      ruleIndex: 0,
      filters: [
        { type: 'RequestHeaderModifier', modifier: { set: [{ name: 'X-Env', value: 'canary' }], add: [], remove: ['x-debug'] } },
        { type: 'ResponseHeaderModifier', modifier: { set: [], add: [{ name: 'x-served-by', value: 'waypoint' }], remove: [] } },
        { type: 'URLRewrite', hostname: 'api.internal', path: { type: 'ReplacePrefixMatch', value: '/v2' } },
      ],
      backends: [
        { weight: 90, service: { namespace: 'demo', hostname: 'api-v1.demo.svc.cluster.local', port: 8080 }, filters: [] },
        {
          weight: 10,
          service: { namespace: 'demo', hostname: 'api-v2.demo.svc.cluster.local', port: 8080 },
          filters: [{ type: 'RequestHeaderModifier', modifier: { set: [], add: [{ name: 'x-v', value: '2' }], remove: [] } }],
        },
        { weight: 1, filters: [], invalidReason: 'Service demo/gone not found' },
      ],
      requestTimeoutMs: 500,
      backendRequestTimeoutMs: 200,
      retry: { attempts: 2, codes: [503, 502], backoffMs: 25 },
    },
    {
      route: 'demo/redirect',
      kind: 'GRPCRoute',
      ruleIndex: 3,
      filters: [
        {
          type: 'RequestRedirect',
          scheme: 'https',
          hostname: 'example.com',
          port: 8443,
          statusCode: 301,
          path: { type: 'ReplaceFullPath', value: '/x' },
        },
      ],
      backends: [],
    },
    {
      route: 'demo/faulty',
      kind: 'HTTPRoute',
      ruleIndex: 0,
      filters: [
        { type: 'Fault', fault: 'demo/slow', delay: { percent: 12.5, fixedDelayMs: 200 }, abort: { percent: 10, httpStatus: 503 } },
        { type: 'Fault', fault: 'demo/grpc', abort: { percent: 100, grpcStatus: 14 } },
        { type: 'Invalid', reason: 'spec.rules[0].filters[2]: HTTPFault demo/gone not found' },
      ],
      backends: [],
    },
  ],
  entries: [
    {
      match: {
        path: { type: 'RegularExpression', value: '/pkg\\.Svc/(Get|List)' },
        headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }],
        queryParams: [{ type: 'RegularExpression', name: 'v', value: '[0-9]+' }],
        method: 'POST',
      },
      rule: 1,
    },
    { match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, rule: 0 },
  ],
};

const bytes = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x));
const clone = (): Record<string, unknown> => JSON.parse(JSON.stringify(full)) as Record<string, unknown>;

function problem(name: string, body: Uint8Array): string {
  try {
    decodeRouteSet(name, body);
  } catch (err) {
    assert.ok(err instanceof FieldError, String(err));
    assert.equal(err.code, 'MALFORMED_RESOURCE');
    assert.ok(err.message.startsWith(`RouteSet ${JSON.stringify(name)}: `), err.message);
    return `${err.field}: ${err.problem}`;
  }
  return assert.fail('expected a FieldError');
}

const NAME = routeSetKey(full.parent);

test('a route set survives encode and decode unchanged', () => {
  assert.equal(NAME, 'Service/demo/api.demo.svc.cluster.local:80');
  assert.deepEqual(decodeRouteSet(NAME, encodeRouteSet(full)), full);
  const gw: RouteSet = { parent: { kind: 'Gateway', namespace: 'demo', name: 'waypoint' }, rules: [], entries: [] };
  assert.deepEqual(decodeRouteSet('Gateway/demo/waypoint', encodeRouteSet(gw)), gw);
});

test('omitted lists read as empty, header match names are lower-cased, a redirect defaults to 302', () => {
  const set = decodeRouteSet(
    'Service/demo/api',
    bytes({
      parent: { kind: 'Service', namespace: 'demo', hostname: 'api' },
      rules: [{ route: 'demo/r', kind: 'HTTPRoute', ruleIndex: 0, filters: [{ type: 'RequestRedirect' }] }],
      entries: [{ match: { headers: [{ type: 'Exact', name: 'X-Canary', value: 'true' }] }, rule: 0 }],
    }),
  );
  assert.deepEqual(set.rules[0], {
    route: 'demo/r',
    kind: 'HTTPRoute',
    ruleIndex: 0,
    filters: [{ type: 'RequestRedirect', statusCode: 302 }],
    backends: [],
  });
  assert.deepEqual(set.entries[0]?.match, { headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }], queryParams: [] });
});

test('every bad field is named', () => {
  type Edit = (s: Record<string, unknown> & { rules: Array<Record<string, unknown>>; entries: Array<Record<string, unknown>> }) => void;
  const cases: Array<[Edit, string]> = [
    [(s) => delete s['parent'], 'parent: required (must be an object)'],
    [(s) => ((s['parent'] as Record<string, unknown>)['kind'] = 'Mesh'), 'parent.kind: must be one of Service, Gateway, got "Mesh"'],
    [
      (s) => ((s['parent'] as Record<string, unknown>)['port'] = 81),
      'parent: names "Service/demo/api.demo.svc.cluster.local:81", not the resource\'s parent',
    ],
    [(s) => ((s as Record<string, unknown>)['rules'] = {}), 'rules: must be a list, got an object'],
    [(s) => (s.rules[0]!['route'] = ''), 'rules[0].route: must not be empty'],
    [(s) => (s.rules[0]!['kind'] = 'TCPRoute'), 'rules[0].kind: must be one of HTTPRoute, GRPCRoute, got "TCPRoute"'],
    [(s) => (s.rules[0]!['requestTimeoutMs'] = 0), 'rules[0].requestTimeoutMs: must be an integer from 1 to 2147483647, got number 0'],
    [(s) => (s.rules[0]!['backendRequestTimeoutMs'] = 600), 'rules[0].backendRequestTimeoutMs: must not exceed requestTimeoutMs (500)'],
    [(s) => (s.rules[0]!['retry'] = { attempts: -1 }), 'rules[0].retry.attempts: must be an integer from 0 to 100, got number -1'],
    [
      (s) => (s.rules[0]!['retry'] = { attempts: 1, codes: [200] }),
      'rules[0].retry.codes[0]: must be an integer from 400 to 599, got number 200',
    ],
    [
      (s) => ((s.rules[0]!['backends'] as Array<Record<string, unknown>>)[0]!['weight'] = 1_000_001),
      'rules[0].backends[0].weight: must be an integer from 0 to 1000000, got number 1000001',
    ],
    [
      (s) => delete (s.rules[0]!['backends'] as Array<Record<string, unknown>>)[2]!['invalidReason'],
      'rules[0].backends[2]: needs a service or an invalidReason',
    ],
    [
      (s) => ((s.rules[0]!['backends'] as Array<Record<string, unknown>>)[0]!['service'] = { namespace: 'demo', hostname: 'x', port: 0 }),
      'rules[0].backends[0].service.port: must be an integer port from 1 to 65535, got number 0',
    ],
    [
      (s) => ((s.rules[0]!['backends'] as Array<Record<string, unknown>>)[0]!['filters'] = [{ type: 'URLRewrite' }]),
      'rules[0].backends[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier, got "URLRewrite"',
    ],
    [
      (s) => (s.rules[0]!['filters'] = [{ type: 'RequestHeaderModifier', modifier: { set: [{ name: 'x y', value: 'v' }] } }]),
      'rules[0].filters[0].modifier.set[0].name: "x y" is not an HTTP header name',
    ],
    [
      (s) => (s.rules[0]!['filters'] = [{ type: 'RequestHeaderModifier', modifier: { add: [{ name: 'x', value: 'a\r\nb: c' }] } }]),
      'rules[0].filters[0].modifier.add[0].value: must not contain CR, LF or NUL',
    ],
    [
      (s) => (s.rules[0]!['filters'] = [{ type: 'RequestMirror' }]),
      'rules[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, Fault, Invalid, got "RequestMirror"',
    ],
    [
      (s) => (s.rules[1]!['filters'] = [{ type: 'RequestRedirect', statusCode: 200 }]),
      'rules[1].filters[0].statusCode: must be one of 301, 302, 303, 307, 308, got number 200',
    ],
    [
      (s) => (s.rules[1]!['filters'] = [{ type: 'RequestRedirect', scheme: 'ftp' }]),
      'rules[1].filters[0].scheme: must be one of http, https, got "ftp"',
    ],
    [(s) => (s.rules[1]!['filters'] = [{ type: 'URLRewrite', hostname: 'a/b' }]), 'rules[1].filters[0].hostname: "a/b" is not a host name'],
    [
      (s) => (s.rules[1]!['filters'] = [{ type: 'URLRewrite', path: { type: 'ReplaceFullPath', value: 'x' } }]),
      'rules[1].filters[0].path.value: must be a path starting with \'/\', got "x"',
    ],
    [(s) => (s.entries[1]!['rule'] = 3), 'entries[1].rule: must be an integer from 0 to 2, got number 3'],
    [(s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f' }]), 'rules[2].filters[0]: needs a delay or an abort'],
    [
      (s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f', delay: { percent: 100.5, fixedDelayMs: 1 } }]),
      'rules[2].filters[0].delay.percent: must be a number from 0 to 100, got number 100.5',
    ],
    [
      (s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f', delay: { percent: 1, fixedDelayMs: -1 } }]),
      'rules[2].filters[0].delay.fixedDelayMs: must be an integer from 0 to 2147483647, got number -1',
    ],
    [
      (s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f', abort: { percent: 1, httpStatus: 503, grpcStatus: 14 } }]),
      'rules[2].filters[0].abort: needs exactly one of httpStatus and grpcStatus',
    ],
    [
      (s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f', abort: { percent: 1, httpStatus: 100 } }]),
      'rules[2].filters[0].abort.httpStatus: must be an integer from 200 to 599, got number 100',
    ],
    [
      (s) => (s.rules[2]!['filters'] = [{ type: 'Fault', fault: 'demo/f', abort: { percent: 1, grpcStatus: 17 } }]),
      'rules[2].filters[0].abort.grpcStatus: must be an integer from 0 to 16, got number 17',
    ],
    [(s) => (s.rules[2]!['filters'] = [{ type: 'Invalid' }]), 'rules[2].filters[0].reason: required (must be a string)'],
    [
      (s) => ((s.rules[0]!['backends'] as Array<Record<string, unknown>>)[0]!['filters'] = [{ type: 'Invalid', reason: 'x' }]),
      'rules[0].backends[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier, got "Invalid"',
    ],
    [
      (s) => (s.entries[1]!['match'] = { path: { type: 'PathPrefix', value: 'api' } }),
      'entries[1].match.path.value: must be a path starting with \'/\', got "api"',
    ],
    [
      (s) => (s.entries[1]!['match'] = { path: { type: 'Exact', value: '/a b' } }),
      'entries[1].match.path.value: must be a path starting with \'/\', got "/a b"',
    ],
    [
      (s) => (s.entries[1]!['match'] = { method: 'get' }),
      'entries[1].match.method: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, got "get"',
    ],
    [
      (s) => (s.entries[1]!['match'] = { queryParams: [{ type: 'Exact', name: '', value: 'x' }] }),
      'entries[1].match.queryParams[0].name: must not be empty',
    ],
  ];
  for (const [edit, expected] of cases) {
    const s = clone() as Parameters<Edit>[0];
    edit(s);
    assert.equal(problem(NAME, bytes(s)), expected);
  }
});

test('regular expressions are compiled at decode, so a bad one is a NACK and not a per-request failure', () => {
  const s = clone() as { entries: Array<{ match: Record<string, unknown> }> };
  s.entries[0]!.match['path'] = { type: 'RegularExpression', value: '/(unclosed' };
  assert.match(problem(NAME, bytes(s)), /^entries\[0\]\.match\.path\.value: is not a regular expression: /);
  s.entries[0]!.match['path'] = undefined;
  s.entries[0]!.match['headers'] = [{ type: 'RegularExpression', name: 'x', value: '[' }];
  assert.match(problem(NAME, bytes(s)), /^entries\[0\]\.match\.headers\[0\]\.value: is not a regular expression: /);
});

test('a body that is not UTF-8 JSON, or not an object, is refused', () => {
  assert.match(problem(NAME, new Uint8Array([0xff, 0xfe])), /^\(body\): is not UTF-8 JSON: /);
  assert.match(problem(NAME, new TextEncoder().encode('{"parent":')), /^\(body\): is not UTF-8 JSON: /);
  assert.equal(problem(NAME, bytes([1])), '(body): must be an object, got a list');
});
