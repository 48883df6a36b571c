import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import { DEFAULT_RETRY_BUDGET } from '@ambit/core/traffic';
import { destinationRule, httpFault, localRateLimit, rateLimitSpec } from '../../testing/traffic-objects.ts';
import { parseHttpFault, parseLocalRateLimit } from './ambit-objects.ts';
import { parseDestinationRule, resolveHost } from './destination-rule.ts';
import { parseRetryBudget } from './retry-budget.ts';

function problem(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    assert.ok(err instanceof KubeObjectError, String(err));
    return `${err.field}: ${err.problem}`;
  }
  return assert.fail('expected a KubeObjectError');
}

test('a DestinationRule traffic policy reads with Istio defaults, names and deprecated forms', () => {
  const view = parseDestinationRule(
    destinationRule('reviews', {
      host: 'reviews',
      exportTo: ['.'],
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 1, connectTimeout: '1s' },
          http: { http1MaxPendingRequests: 1, http2MaxRequests: 0, maxRequestsPerConnection: 10, idleTimeout: '1.5s' },
        },
        outlierDetection: { consecutive5xxErrors: 3, interval: '1s' },
        loadBalancer: { simple: 'LEAST_CONN', localityLbSetting: { enabled: true } },
        tls: { mode: 'ISTIO_MUTUAL' },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        {
          name: 'v2',
          labels: { version: 'v2' },
          trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'X-User', minimumRingSize: 64 } } },
        },
      ],
    }),
  );
  assert.equal(view.host, 'reviews');
  assert.deepEqual(view.trafficPolicy, {
    // 0 is Istio's "not set".
    connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1, maxRequestsPerConnection: 10, idleTimeoutMs: 1500 },
    // Istio's defaults for what the stanza leaves out.
    outlierDetection: {
      consecutive5xxErrors: 3,
      consecutiveGatewayErrors: 0,
      intervalMs: 1000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    },
    loadBalancer: { kind: 'simple', simple: 'LEAST_REQUEST' },
  });
  assert.deepEqual(view.subsets, [
    { name: 'v1', labels: { version: 'v1' } },
    {
      name: 'v2',
      labels: { version: 'v2' },
      trafficPolicy: {
        loadBalancer: {
          kind: 'consistentHash',
          key: { type: 'header', name: 'x-user' },
          algorithm: { type: 'RING_HASH', minimumRingSize: 64 },
        },
      },
    },
  ]);
  assert.deepEqual(view.ignored, [
    'spec.exportTo: visibility is not applied by waypoints',
    'spec.trafficPolicy.tls: the waypoint always reaches endpoints over HBONE mTLS',
    'spec.trafficPolicy.connectionPool.tcp.connectTimeout: not applied by the waypoint',
    'spec.trafficPolicy.loadBalancer.localityLbSetting: not supported yet (left for later)',
  ]);
});

test('outlier detection: the deprecated consecutiveErrors counts gateway errors only, as Istio did', () => {
  const view = parseDestinationRule(destinationRule('r', { host: 'r', trafficPolicy: { outlierDetection: { consecutiveErrors: 7 } } }));
  assert.equal(view.trafficPolicy?.outlierDetection?.consecutiveGatewayErrors, 7);
  assert.equal(view.trafficPolicy?.outlierDetection?.consecutive5xxErrors, 0);
  const empty = parseDestinationRule(destinationRule('r', { host: 'r', trafficPolicy: { outlierDetection: {} } }));
  assert.deepEqual(empty.trafficPolicy?.outlierDetection, {
    consecutive5xxErrors: 5,
    consecutiveGatewayErrors: 0,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 10,
    minHealthPercent: 0,
  });
});

test('consistent hash keys and algorithms', () => {
  const lb = (consistentHash: Record<string, unknown>): unknown =>
    parseDestinationRule(destinationRule('r', { host: 'r', trafficPolicy: { loadBalancer: { consistentHash } } })).trafficPolicy
      ?.loadBalancer;
  assert.deepEqual(lb({ httpCookie: { name: 'user', path: '/', ttl: '60s' }, maglev: {} }), {
    kind: 'consistentHash',
    key: { type: 'cookie', name: 'user', path: '/', ttlMs: 60_000 },
    algorithm: { type: 'MAGLEV', tableSize: 65_537 },
  });
  assert.deepEqual(lb({ useSourceIp: true, ringHash: { minimumRingSize: 2048 } }), {
    kind: 'consistentHash',
    key: { type: 'sourceIp' },
    algorithm: { type: 'RING_HASH', minimumRingSize: 2048 },
  });
  assert.deepEqual(lb({ httpQueryParameterName: 'user', maglev: { tableSize: 251 } }), {
    kind: 'consistentHash',
    key: { type: 'queryParameter', name: 'user' },
    algorithm: { type: 'MAGLEV', tableSize: 251 },
  });
});

test('every bad DestinationRule field is named with its full path', () => {
  const tp =
    (trafficPolicy: Record<string, unknown>): (() => unknown) =>
    () =>
      parseDestinationRule(destinationRule('r', { host: 'r', trafficPolicy }));
  const cases: Array<[() => unknown, string]> = [
    [() => parseDestinationRule(destinationRule('r', {})), 'spec.host: required (must be a string)'],
    [
      tp({ connectionPool: { http: { http1MaxPendingRequests: -1 } } }),
      'spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: must be an integer from 0 to 2147483647, got number -1',
    ],
    [
      tp({ connectionPool: { http: { idleTimeout: '10' } } }),
      'spec.trafficPolicy.connectionPool.http.idleTimeout: "10" is not a duration (e.g. 10s, 1.5s, 1m30s, 500ms)',
    ],
    [tp({ outlierDetection: { interval: '0s' } }), 'spec.trafficPolicy.outlierDetection.interval: must be at least 1ms'],
    [
      tp({ outlierDetection: { maxEjectionPercent: 101 } }),
      'spec.trafficPolicy.outlierDetection.maxEjectionPercent: must be an integer from 0 to 100, got number 101',
    ],
    [
      tp({ loadBalancer: { simple: 'FASTEST' } }),
      'spec.trafficPolicy.loadBalancer.simple: must be one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, got "FASTEST"',
    ],
    [
      tp({ loadBalancer: { consistentHash: {} } }),
      'spec.trafficPolicy.loadBalancer.consistentHash: needs one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName',
    ],
    [
      tp({ loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } } }),
      'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: must be a prime number (Maglev), got 1000',
    ],
    [
      () =>
        parseDestinationRule(
          destinationRule('r', { host: 'r', subsets: [{ name: 'v1', trafficPolicy: { outlierDetection: { baseEjectionTime: 'soon' } } }] }),
        ),
      'spec.subsets[0].trafficPolicy.outlierDetection.baseEjectionTime: "soon" is not a duration (e.g. 10s, 1.5s, 1m30s, 500ms)',
    ],
    [
      () => parseDestinationRule(destinationRule('r', { host: 'r', subsets: [{ name: 'a' }, { name: 'a' }] })),
      'spec.subsets[1].name: subset "a" is defined more than once',
    ],
  ];
  for (const [read, expected] of cases) assert.equal(problem(read), expected);
});

test('DestinationRule hosts: short names, name.ns, name.ns.svc and FQDNs are Services; wildcards and other hosts are not', () => {
  assert.deepEqual(resolveHost('reviews', 'demo'), { kind: 'service', namespace: 'demo', name: 'reviews' });
  assert.deepEqual(resolveHost('reviews.prod', 'demo'), { kind: 'service', namespace: 'prod', name: 'reviews' });
  assert.deepEqual(resolveHost('reviews.prod.svc', 'demo'), { kind: 'service', namespace: 'prod', name: 'reviews' });
  assert.deepEqual(resolveHost('reviews.prod.svc.cluster.local', 'demo'), { kind: 'service', namespace: 'prod', name: 'reviews' });
  assert.equal(resolveHost('*.prod.svc.cluster.local', 'demo').kind, 'unsupported');
  assert.equal(resolveHost('api.example.com', 'demo').kind, 'unsupported');
});

test('LocalRateLimit: buckets with the default burst, overrides with client namespaces defaulted', () => {
  const view = parseLocalRateLimit(
    localRateLimit(
      'limit',
      rateLimitSpec('reviews', {
        total: { requestsPerSecond: 100 },
        identity: { requestsPerSecond: 5, burst: 2 },
        overrides: [
          {
            requestsPerSecond: 20,
            clientRefs: [
              { kind: 'ServiceAccount', name: 'client' },
              { kind: 'ServiceAccount', name: 'x', namespace: 'other' },
            ],
          },
        ],
      }),
    ),
  );
  assert.equal(view.target, 'reviews');
  assert.deepEqual(view.total, { requestsPerSecond: 100, burst: 10 });
  assert.deepEqual(view.identity, { requestsPerSecond: 5, burst: 2 });
  assert.deepEqual(view.overrides, [
    {
      bucket: { requestsPerSecond: 20, burst: 2 },
      clientRefs: [
        { namespace: 'demo', name: 'client' },
        { namespace: 'other', name: 'x' },
      ],
    },
  ]);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ targetRef: { kind: 'Deployment', name: 'x' } }, 'spec.targetRef.kind: must be one of Service, got "Deployment"'],
    [
      rateLimitSpec('r', { total: { requestsPerSecond: 0 } }),
      'spec.total.requestsPerSecond: must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      rateLimitSpec('r', { identity: { requestsPerSecond: 1, burst: -1 } }),
      'spec.identity.burst: must be an integer from 1 to 2147483647, got number -1',
    ],
    [
      rateLimitSpec('r', { overrides: [{ requestsPerSecond: 1, clientRefs: [] }] }),
      'spec.overrides[0].clientRefs: must name at least one ServiceAccount',
    ],
    [
      rateLimitSpec('r', { overrides: [{ requestsPerSecond: 1, clientRefs: [{ kind: 'User', name: 'x' }] }] }),
      'spec.overrides[0].clientRefs[0].kind: must be one of ServiceAccount, got "User"',
    ],
  ];
  for (const [spec, expected] of cases)
    assert.equal(
      problem(() => parseLocalRateLimit(localRateLimit('l', spec))),
      expected,
    );
});

test('HTTPFault: Istio fault fields, gRPC status by name or number, percentages default to 100', () => {
  assert.deepEqual(
    parseHttpFault(httpFault('f', { delay: { fixedDelay: '200ms' }, abort: { percentage: { value: 12.5 }, httpStatus: 503 } })),
    {
      meta: parseHttpFault(httpFault('f', { delay: { fixedDelay: '1s' } })).meta,
      generation: 1,
      delay: { percent: 100, fixedDelayMs: 200 },
      abort: { percent: 12.5, httpStatus: 503 },
    },
  );
  assert.deepEqual(parseHttpFault(httpFault('f', { abort: { grpcStatus: 'UNAVAILABLE' } })).abort, { percent: 100, grpcStatus: 14 });
  assert.deepEqual(parseHttpFault(httpFault('f', { abort: { grpcStatus: 4 } })).abort, { percent: 100, grpcStatus: 4 });
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'spec: needs a delay or an abort'],
    [{ abort: { httpStatus: 503, grpcStatus: 'UNAVAILABLE' } }, 'spec.abort: needs exactly one of httpStatus and grpcStatus'],
    [{ abort: { httpStatus: 99 } }, 'spec.abort.httpStatus: must be an integer from 200 to 599, got number 99'],
    [{ abort: { grpcStatus: 'BROKEN' } }, 'spec.abort.grpcStatus: "BROKEN" is not a gRPC status (a name such as UNAVAILABLE, or 0–16)'],
    [
      { delay: { percentage: { value: 101 }, fixedDelay: '1s' } },
      'spec.delay.percentage.value: must be a number from 0 to 100, got number 101',
    ],
    [{ delay: { fixedDelay: 'later' } }, 'spec.delay.fixedDelay: "later" is not a duration (e.g. 200ms, 1.5s)'],
  ];
  for (const [spec, expected] of cases)
    assert.equal(
      problem(() => parseHttpFault(httpFault('f', spec))),
      expected,
    );
});

test('the retry-budget annotation: any subset of keys, none/off, and a problem for anything else', () => {
  assert.deepEqual(parseRetryBudget('retryRatio=0.5'), { budget: { ...DEFAULT_RETRY_BUDGET, retryRatio: 0.5 } });
  assert.deepEqual(parseRetryBudget('retryRatio=0.2, minRetriesPerSecond=3,ttl=30s'), {
    budget: { retryRatio: 0.2, minRetriesPerSecond: 3, ttlMs: 30_000 },
  });
  assert.deepEqual(parseRetryBudget('none'), { budget: { ...DEFAULT_RETRY_BUDGET, retryRatio: 0, minRetriesPerSecond: 0 } });
  assert.deepEqual(parseRetryBudget('off'), { budget: { ...DEFAULT_RETRY_BUDGET, retryRatio: 0, minRetriesPerSecond: 0 } });
  assert.deepEqual(parseRetryBudget('ratio=1'), {
    problem: 'unknown key "ratio" (expected retryRatio, minRetriesPerSecond, ttl, as key=value separated by commas, or none)',
  });
  assert.deepEqual(parseRetryBudget('retryRatio=-1'), { problem: 'retryRatio "-1" is not a number from 0 to 1000' });
  assert.deepEqual(parseRetryBudget('ttl=0s'), { problem: 'ttl "0s" is not a positive duration (e.g. 10s)' });
  assert.deepEqual(parseRetryBudget('ttl=1s,ttl=2s'), { problem: 'ttl is given twice' });
});
