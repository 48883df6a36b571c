import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldError } from '../fields/field-error.ts';
import { decodeServiceTraffic, encodeServiceTraffic } from './codec.ts';
import { serviceTrafficKey, type ServiceTraffic } from './types.ts';

const full: ServiceTraffic = {
  service: { namespace: 'demo', hostname: 'reviews.demo.svc.cluster.local' },
  destinationRule: 'demo/reviews',
  trafficPolicy: {
    connectionPool: {
      maxConnections: 1,
      http1MaxPendingRequests: 1,
      http2MaxRequests: 100,
      maxRequestsPerConnection: 0,
      idleTimeoutMs: 30_000,
    },
    outlierDetection: {
      consecutive5xxErrors: 3,
      consecutiveGatewayErrors: 0,
      intervalMs: 1000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 100,
      minHealthPercent: 0,
    },
    loadBalancer: {
      kind: 'consistentHash',
      key: { type: 'cookie', name: 'user', path: '/', ttlMs: 60_000 },
      algorithm: { type: 'MAGLEV', tableSize: 65537 },
    },
  },
  subsets: [
    { name: 'v1', workloads: ['Kubernetes//Pod/demo/reviews-v1-abc'] },
    {
      name: 'v2',
      workloads: [],
      trafficPolicy: {
        loadBalancer: {
          kind: 'consistentHash',
          key: { type: 'header', name: 'x-user' },
          algorithm: { type: 'RING_HASH', minimumRingSize: 1024 },
        },
      },
    },
    { name: 'v3', workloads: [], trafficPolicy: { loadBalancer: { kind: 'simple', simple: 'ROUND_ROBIN' } } },
  ],
  retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
  rateLimit: {
    policy: 'demo/reviews-limit',
    total: { requestsPerSecond: 10, burst: 1 },
    perIdentity: { requestsPerSecond: 5, burst: 1 },
    overrides: [{ bucket: { requestsPerSecond: 20, burst: 2 }, identities: ['spiffe://cluster.local/ns/demo/sa/client'] }],
  },
};

const NAME = serviceTrafficKey(full.service);
const bytes = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x));
type Body = Record<string, unknown> & {
  trafficPolicy: Record<string, Record<string, unknown>>;
  subsets: Array<Record<string, unknown>>;
  rateLimit: Record<string, unknown> & { overrides: Array<Record<string, unknown>> };
};
const clone = (): Body => JSON.parse(JSON.stringify(full)) as Body;

function problem(name: string, body: Uint8Array): string {
  try {
    decodeServiceTraffic(name, body);
  } catch (err) {
    assert.ok(err instanceof FieldError, String(err));
    assert.equal(err.code, 'MALFORMED_RESOURCE');
    assert.ok(err.message.startsWith(`ServiceTraffic ${JSON.stringify(name)}: `), err.message);
    return `${err.field}: ${err.problem}`;
  }
  return assert.fail('expected a FieldError');
}

test('a service traffic resource survives encode and decode unchanged', () => {
  assert.equal(NAME, 'demo/reviews.demo.svc.cluster.local');
  assert.deepEqual(decodeServiceTraffic(NAME, encodeServiceTraffic(full)), full);
  const minimal: ServiceTraffic = { service: full.service, subsets: [] };
  assert.deepEqual(decodeServiceTraffic(NAME, encodeServiceTraffic(minimal)), minimal);
  const sourceIp: ServiceTraffic = {
    service: full.service,
    subsets: [],
    trafficPolicy: {
      loadBalancer: { kind: 'consistentHash', key: { type: 'sourceIp' }, algorithm: { type: 'RING_HASH', minimumRingSize: 1 } },
    },
  };
  assert.deepEqual(decodeServiceTraffic(NAME, encodeServiceTraffic(sourceIp)), sourceIp);
});

test('omitted subsets read as empty', () => {
  assert.deepEqual(decodeServiceTraffic(NAME, bytes({ service: full.service })), { service: full.service, subsets: [] });
});

test('every bad field is named', () => {
  const pool = (s: Body): Record<string, unknown> => s.trafficPolicy['connectionPool']!;
  const od = (s: Body): Record<string, unknown> => s.trafficPolicy['outlierDetection']!;
  const lb = (s: Body): Record<string, unknown> => s.trafficPolicy['loadBalancer']!;
  const cases: Array<[(s: Body) => void, string]> = [
    [(s) => delete s['service'], 'service: required (must be an object)'],
    [(s) => ((s['service'] as Record<string, unknown>)['hostname'] = 'other'), 'service: names "demo/other", not the resource\'s Service'],
    [(s) => (s['destinationRule'] = ''), 'destinationRule: must not be empty'],
    [
      (s) => (pool(s)['maxConnections'] = 0),
      'trafficPolicy.connectionPool.maxConnections: must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      (s) => (pool(s)['http1MaxPendingRequests'] = -1),
      'trafficPolicy.connectionPool.http1MaxPendingRequests: must be an integer from 1 to 2147483647, got number -1',
    ],
    [
      (s) => (pool(s)['idleTimeoutMs'] = 1.5),
      'trafficPolicy.connectionPool.idleTimeoutMs: must be an integer from 1 to 2147483647, got number 1.5',
    ],
    [(s) => delete od(s)['intervalMs'], 'trafficPolicy.outlierDetection.intervalMs: required (must be an integer from 1 to 2147483647)'],
    [
      (s) => (od(s)['maxEjectionPercent'] = 101),
      'trafficPolicy.outlierDetection.maxEjectionPercent: must be a number from 0 to 100, got number 101',
    ],
    [
      (s) => (od(s)['consecutive5xxErrors'] = -3),
      'trafficPolicy.outlierDetection.consecutive5xxErrors: must be an integer from 0 to 2147483647, got number -3',
    ],
    [(s) => (lb(s)['kind'] = 'weighted'), 'trafficPolicy.loadBalancer.kind: must be one of simple, consistentHash, got "weighted"'],
    [
      (s) => (s.trafficPolicy['loadBalancer'] = { kind: 'simple', simple: 'LEAST_CONN' }),
      'trafficPolicy.loadBalancer.simple: must be one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH, got "LEAST_CONN"',
    ],
    [
      (s) => (lb(s)['algorithm'] = { type: 'MAGLEV', tableSize: 65536 }),
      'trafficPolicy.loadBalancer.algorithm.tableSize: must be a prime number, got number 65536',
    ],
    [
      (s) => (lb(s)['algorithm'] = { type: 'RING_HASH', minimumRingSize: 0 }),
      'trafficPolicy.loadBalancer.algorithm.minimumRingSize: must be an integer from 1 to 8388608, got number 0',
    ],
    [(s) => (lb(s)['key'] = { type: 'header', name: 'X-User' }), 'trafficPolicy.loadBalancer.key.name: must be lower-case, got "X-User"'],
    [(s) => (lb(s)['key'] = { type: 'cookie', name: 'a b' }), 'trafficPolicy.loadBalancer.key.name: "a b" is not an HTTP token (RFC 9110)'],
    [
      (s) => (lb(s)['key'] = { type: 'cookie', name: 'u', path: 'x;y' }),
      "trafficPolicy.loadBalancer.key.path: must be a cookie path starting with '/' (no ';' or spaces), got \"x;y\"",
    ],
    [(s) => (s.subsets[0]!['name'] = ''), 'subsets[0].name: must not be empty'],
    [(s) => (s.subsets[1]!['name'] = 'v1'), 'subsets: subset "v1" appears more than once'],
    [(s) => (s.subsets[0]!['workloads'] = [3]), 'subsets[0].workloads[0]: must be a string, got number 3'],
    [
      (s) => (s['retryBudget'] = { retryRatio: -0.1, minRetriesPerSecond: 10, ttlMs: 10_000 }),
      'retryBudget.retryRatio: must be a number from 0 to 1000, got number -0.1',
    ],
    [
      (s) => (s['retryBudget'] = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 0 }),
      'retryBudget.ttlMs: must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      (s) => (s.rateLimit['total'] = { requestsPerSecond: 0, burst: 1 }),
      'rateLimit.total.requestsPerSecond: must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      (s) => (s.rateLimit['perIdentity'] = { requestsPerSecond: 5, burst: 0 }),
      'rateLimit.perIdentity.burst: must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      (s) => (s.rateLimit.overrides[0]!['identities'] = ['client']),
      'rateLimit.overrides[0].identities[0]: must be a SPIFFE ID (spiffe://…), got "client"',
    ],
    [(s) => (s.rateLimit['policy'] = 3), 'rateLimit.policy: must be a string, got number 3'],
  ];
  for (const [edit, expected] of cases) {
    const s = clone();
    edit(s);
    assert.equal(problem(NAME, bytes(s)), expected);
  }
});

test('a body that is not UTF-8 JSON, or not an object, is refused', () => {
  assert.match(problem(NAME, new Uint8Array([0xff, 0xfe])), /^\(body\): is not UTF-8 JSON: /);
  assert.match(problem(NAME, bytes([1])), /^\(body\): must be an object, got a list$/);
});
