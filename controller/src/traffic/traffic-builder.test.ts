import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceTraffic } from '@ambit/core/traffic';
import { gateway, namespace, pod, service } from '../../testing/kube-objects.ts';
import { destinationRule, httpFault, localRateLimit, rateLimitSpec } from '../../testing/traffic-objects.ts';
import { TrafficBuilder, type TrafficDelta } from './traffic-builder.ts';

const REVIEWS = 'demo/reviews.demo.svc.cluster.local';
const up = (object: Record<string, unknown>) => ({ type: 'upsert' as const, object });
const del = (object: Record<string, unknown>) => ({ type: 'delete' as const, object });

/** A namespace served by waypoint `waypoint`, with Service `reviews` (app=reviews). */
function builder(...objects: Array<Record<string, unknown>>): TrafficBuilder {
  const b = new TrafficBuilder();
  for (const o of [namespace('demo', { 'istio.io/use-waypoint': 'waypoint' }), gateway('waypoint'), service('reviews'), ...objects]) {
    b.apply(up(o));
  }
  return b;
}

function trafficOf(b: TrafficBuilder, key = REVIEWS): ServiceTraffic | undefined {
  return b.snapshot().find((t) => `${t.service.namespace}/${t.service.hostname}` === key);
}

/** `type=status/reason: message` of the last status update of object `name` in `delta`. */
function statusOf(delta: TrafficDelta, name: string): string {
  const update = delta.status.filter((s) => s.target.name === name).at(-1);
  assert.ok(update !== undefined, `a status update for ${name}; have ${delta.status.map((s) => s.target.name).join(', ')}`);
  return update.conditions.map((c) => `${c.type}=${c.status}/${c.reason}: ${c.message}`).join('\n');
}

test('a DestinationRule becomes the ServiceTraffic of its host; WaypointAccepted names the waypoint and what is ignored', () => {
  const b = builder();
  const delta = b.apply(
    up(
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: {
          connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
          loadBalancer: { simple: 'ROUND_ROBIN', warmupDurationSecs: '10s' },
          portLevelSettings: [{ port: { number: 80 } }],
        },
      }),
    ),
  );
  assert.deepEqual(delta.traffic.upserted, [
    {
      service: { namespace: 'demo', hostname: 'reviews.demo.svc.cluster.local' },
      subsets: [],
      destinationRule: 'demo/reviews',
      trafficPolicy: {
        connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1 },
        loadBalancer: { kind: 'simple', simple: 'ROUND_ROBIN' },
      },
    },
  ]);
  assert.deepEqual(delta.status[0]?.target, {
    apiVersion: 'networking.istio.io/v1',
    plural: 'destinationrules',
    namespace: 'demo',
    name: 'reviews',
  });
  assert.equal(delta.status[0]?.generation, 1);
  assert.equal(
    statusOf(delta, 'reviews'),
    'WaypointAccepted=True/Accepted: applied by waypoint demo/waypoint to reviews.demo.svc.cluster.local; ignored: ' +
      'spec.trafficPolicy.portLevelSettings: per-port policy is not supported; the Service-level policy applies on every port; ' +
      'spec.trafficPolicy.loadBalancer.warmupDurationSecs: not supported yet (left for later)',
  );

  // Deleting the rule removes the resource (nothing else configures the Service) and forgets its status.
  const gone = b.apply(del(destinationRule('reviews', { host: 'reviews' })));
  assert.deepEqual(gone.traffic.removed, [REVIEWS]);
  assert.deepEqual(gone.deleted, [
    { apiVersion: 'networking.istio.io/v1', plural: 'destinationrules', namespace: 'demo', name: 'reviews' },
  ]);
  assert.deepEqual(b.snapshot(), []);
});

test('hosts: FQDN and name.ns from another namespace; wildcard, non-Service and unserved hosts say why they are not applied', () => {
  const b = builder(namespace('other'), service('plain', { ns: 'other' }));
  const fqdn = b.apply(
    up(destinationRule('fqdn', { host: 'reviews.demo.svc.cluster.local' }, { ns: 'other', apiVersion: 'networking.istio.io/v1beta1' })),
  );
  assert.equal(trafficOf(b)?.destinationRule, 'other/fqdn');
  assert.match(statusOf(fqdn, 'fqdn'), /^WaypointAccepted=True\/Accepted: applied by waypoint demo\/waypoint/);
  assert.equal(fqdn.status[0]?.target.apiVersion, 'networking.istio.io/v1beta1', 'status goes through the version the object came in');

  assert.equal(
    statusOf(b.apply(up(destinationRule('wild', { host: '*.demo.svc.cluster.local' }))), 'wild'),
    'WaypointAccepted=False/UnsupportedValue: host *.demo.svc.cluster.local is a wildcard: waypoints apply DestinationRules to one Service host only',
  );
  assert.match(
    statusOf(b.apply(up(destinationRule('ext', { host: 'api.example.com' }))), 'ext'),
    /^WaypointAccepted=False\/TargetNotFound: host api\.example\.com is not a Kubernetes Service host/,
  );
  assert.equal(
    statusOf(b.apply(up(destinationRule('missing', { host: 'nope' }))), 'missing'),
    'WaypointAccepted=False/TargetNotFound: host nope: Service demo/nope not found',
  );
  assert.equal(
    statusOf(b.apply(up(destinationRule('plain', { host: 'plain' }, { ns: 'other' }))), 'plain'),
    'WaypointAccepted=False/TargetNotFound: no waypoint serves plain: DestinationRule traffic policy is applied by waypoints only in ambient mode',
  );
  // The traffic policy is still published: a waypoint enrolled later applies it at once.
  assert.equal(trafficOf(b, 'other/plain.other.svc.cluster.local')?.destinationRule, 'other/plain');

  // Enrolling the namespace in a waypoint turns the status True.
  b.apply(up(gateway('wp', { ns: 'other' })));
  const enrolled = b.apply(up(namespace('other', { 'istio.io/use-waypoint': 'wp' })));
  assert.match(
    statusOf(enrolled, 'plain'),
    /^WaypointAccepted=True\/Accepted: applied by waypoint other\/wp to plain\.other\.svc\.cluster\.local$/,
  );
});

test("precedence: the rule in the Service's namespace, then the oldest; the shadowed ones say so, and take over when it goes", () => {
  const b = builder(namespace('other'));
  b.apply(
    up(
      destinationRule(
        'newer',
        { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } },
        { created: '2026-03-01T00:00:00Z' },
      ),
    ),
  );
  b.apply(up(destinationRule('remote', { host: 'reviews.demo' }, { ns: 'other', created: '2025-01-01T00:00:00Z' })));
  const delta = b.apply(
    up(
      destinationRule(
        'older',
        { host: 'reviews.demo.svc', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
        { created: '2026-02-01T00:00:00Z' },
      ),
    ),
  );
  assert.equal(trafficOf(b)?.destinationRule, 'demo/older');
  assert.deepEqual(trafficOf(b)?.trafficPolicy?.loadBalancer, { kind: 'simple', simple: 'ROUND_ROBIN' });
  assert.match(statusOf(delta, 'older'), /^WaypointAccepted=True/);
  const shadowed =
    "WaypointAccepted=False/Conflicted: DestinationRule demo/older also names reviews.demo.svc.cluster.local and takes precedence (the one in the Service's namespace, oldest first); this one is not applied";
  assert.equal(statusOf(delta, 'newer'), shadowed);
  assert.equal(statusOf(delta, 'remote'), shadowed);

  const after = b.apply(del(destinationRule('older', { host: 'reviews' })));
  assert.equal(trafficOf(b)?.destinationRule, 'demo/newer');
  assert.match(statusOf(after, 'newer'), /^WaypointAccepted=True/);
  b.apply(del(destinationRule('newer', { host: 'reviews' })));
  assert.equal(trafficOf(b)?.destinationRule, 'other/remote', "with none in the Service's namespace, another namespace's applies");
});

test('subsets resolve to the workload uids of the Service pods with their labels, and follow pods and label changes', () => {
  const b = builder(
    pod('reviews-a', { labels: { app: 'reviews', version: 'v1' } }),
    pod('reviews-b', { labels: { app: 'reviews', version: 'v2' } }),
    pod('other-v1', { labels: { app: 'other', version: 'v1' } }),
    pod('reviews-pending', { labels: { app: 'reviews', version: 'v1' }, ips: null }),
  );
  const delta = b.apply(
    up(
      destinationRule('reviews', {
        host: 'reviews',
        subsets: [
          { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
    ),
  );
  assert.deepEqual(trafficOf(b)?.subsets, [
    { name: 'v1', workloads: ['Kubernetes//Pod/demo/reviews-a'], trafficPolicy: { loadBalancer: { kind: 'simple', simple: 'RANDOM' } } },
    { name: 'v2', workloads: ['Kubernetes//Pod/demo/reviews-b'] },
  ]);
  assert.equal(
    statusOf(delta, 'reviews'),
    'WaypointAccepted=True/Accepted: applied by waypoint demo/waypoint to reviews.demo.svc.cluster.local; ' +
      'subset v2 only names endpoints; in ambient mode route to a version with a Service per version and HTTPRoute weights',
  );

  // A relabelled pod moves between subsets; a new pod joins; a deleted one leaves.
  const moved = b.apply(up(pod('reviews-b', { labels: { app: 'reviews', version: 'v1' } })));
  assert.deepEqual(moved.traffic.upserted.length, 1);
  assert.deepEqual(
    trafficOf(b)?.subsets.map((s) => [s.name, s.workloads]),
    [
      ['v1', ['Kubernetes//Pod/demo/reviews-a', 'Kubernetes//Pod/demo/reviews-b']],
      ['v2', []],
    ],
  );
  assert.deepEqual(moved.status, [], 'a pod change does not touch the rule status');
  b.apply(up(pod('reviews-c', { labels: { app: 'reviews', version: 'v2' } })));
  b.apply(del(pod('reviews-a', { labels: { app: 'reviews', version: 'v1' } })));
  assert.deepEqual(
    trafficOf(b)?.subsets.map((s) => [s.name, s.workloads]),
    [
      ['v1', ['Kubernetes//Pod/demo/reviews-b']],
      ['v2', ['Kubernetes//Pod/demo/reviews-c']],
    ],
  );
});

test('a bad update keeps the last good version in force; the status names the field; a bad first version applies nothing', () => {
  const b = builder();
  b.apply(up(destinationRule('reviews', { host: 'reviews', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 1 } } } })));
  const before = trafficOf(b);
  const cases: Array<[Record<string, unknown>, string]> = [
    [
      { connectionPool: { http: { http1MaxPendingRequests: -5 } } },
      'spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: must be an integer from 0 to 2147483647, got number -5',
    ],
    [
      { outlierDetection: { interval: 'often' } },
      'spec.trafficPolicy.outlierDetection.interval: "often" is not a duration (e.g. 10s, 1.5s, 1m30s, 500ms)',
    ],
    [
      { outlierDetection: { maxEjectionPercent: 150 } },
      'spec.trafficPolicy.outlierDetection.maxEjectionPercent: must be an integer from 0 to 100, got number 150',
    ],
    [
      { loadBalancer: { simple: 'WEIGHTED' } },
      'spec.trafficPolicy.loadBalancer.simple: must be one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, got "WEIGHTED"',
    ],
  ];
  let generation = 2;
  for (const [trafficPolicy, field] of cases) {
    const delta = b.apply(up(destinationRule('reviews', { host: 'reviews', trafficPolicy }, { generation: generation++ })));
    assert.deepEqual(delta.traffic, { upserted: [], removed: [] }, 'traffic unchanged');
    assert.equal(statusOf(delta, 'reviews'), `WaypointAccepted=False/Invalid: ${field}; the last valid version stays in force`);
    assert.equal(delta.status.at(-1)?.generation, generation - 1);
    assert.equal(delta.errors.length, 1);
    assert.deepEqual(trafficOf(b), before);
  }
  // Fixed: the new version applies and the status is True again.
  const fixed = b.apply(up(destinationRule('reviews', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } })));
  assert.match(statusOf(fixed, 'reviews'), /^WaypointAccepted=True/);
  assert.deepEqual(trafficOf(b)?.trafficPolicy, { loadBalancer: { kind: 'simple', simple: 'RANDOM' } });

  const fresh = b.apply(up(destinationRule('bad', { host: 'nope', trafficPolicy: { loadBalancer: { simple: 'X' } } })));
  assert.match(
    statusOf(fresh, 'bad'),
    /^WaypointAccepted=False\/Invalid: spec\.trafficPolicy\.loadBalancer\.simple: .*; nothing of this object is applied$/,
  );
});

test('the retry-budget annotation: published as the budget, none turns it off, a bad value warns once and the default applies', () => {
  const b = builder();
  const annotated = (value: string): Record<string, unknown> => {
    const s = service('reviews');
    (s['metadata'] as Record<string, unknown>)['annotations'] = { 'ambit.dev/retry-budget': value };
    return s;
  };
  const set = b.apply(up(annotated('retryRatio=0.5,ttl=5s')));
  assert.deepEqual(set.traffic.upserted, [
    {
      service: { namespace: 'demo', hostname: 'reviews.demo.svc.cluster.local' },
      subsets: [],
      retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 10, ttlMs: 5000 },
    },
  ]);
  b.apply(up(annotated('none')));
  assert.deepEqual(trafficOf(b)?.retryBudget, { retryRatio: 0, minRetriesPerSecond: 0, ttlMs: 10_000 });

  const bad = b.apply(up(annotated('retryRatio=lots')));
  assert.deepEqual(bad.warnings, [
    {
      object: 'Service demo/reviews',
      field: 'metadata.annotations[ambit.dev/retry-budget]',
      message: 'retryRatio "lots" is not a number from 0 to 1000; the default retry budget applies',
    },
  ]);
  assert.equal(trafficOf(b)?.retryBudget, undefined, 'absent = DEFAULT_RETRY_BUDGET');
  assert.deepEqual(b.apply(up(annotated('retryRatio=lots'))).warnings, [], 'the same problem is not warned about again');

  const removed = b.apply(up(service('reviews')));
  assert.deepEqual(removed.traffic.removed, [REVIEWS]);
});

test('LocalRateLimit: a RateLimit with SPIFFE identities; the oldest of several wins and the others are Conflicted', () => {
  const b = builder();
  const first = b.apply(
    up(
      localRateLimit(
        'limit',
        rateLimitSpec('reviews', {
          total: { requestsPerSecond: 10, burst: 1 },
          identity: { requestsPerSecond: 5 },
          overrides: [{ requestsPerSecond: 20, burst: 2, clientRefs: [{ kind: 'ServiceAccount', name: 'client' }] }],
        }),
      ),
    ),
  );
  assert.deepEqual(trafficOf(b)?.rateLimit, {
    policy: 'demo/limit',
    total: { requestsPerSecond: 10, burst: 1 },
    perIdentity: { requestsPerSecond: 5, burst: 2 },
    overrides: [{ bucket: { requestsPerSecond: 20, burst: 2 }, identities: ['spiffe://cluster.local/ns/demo/sa/client'] }],
  });
  assert.equal(
    statusOf(first, 'limit'),
    'Accepted=True/Accepted: enforced by waypoint demo/waypoint for reviews.demo.svc.cluster.local, per waypoint replica',
  );
  assert.deepEqual(first.status[0]?.target, {
    apiVersion: 'ambit.dev/v1alpha1',
    plural: 'localratelimits',
    namespace: 'demo',
    name: 'limit',
  });

  const second = b.apply(
    up(localRateLimit('later', rateLimitSpec('reviews', { total: { requestsPerSecond: 1 } }), { created: '2026-06-01T00:00:00Z' })),
  );
  assert.equal(
    statusOf(second, 'later'),
    'Accepted=False/Conflicted: LocalRateLimit demo/limit also targets Service reviews and is older; this one is not applied',
  );
  assert.equal(trafficOf(b)?.rateLimit?.policy, 'demo/limit');

  const promoted = b.apply(del(localRateLimit('limit', rateLimitSpec('reviews'))));
  assert.match(statusOf(promoted, 'later'), /^Accepted=True/);
  assert.deepEqual(trafficOf(b)?.rateLimit, { policy: 'demo/later', total: { requestsPerSecond: 1, burst: 2 }, overrides: [] });

  assert.equal(
    statusOf(b.apply(up(localRateLimit('lost', rateLimitSpec('nope', { total: { requestsPerSecond: 1 } })))), 'lost'),
    'Accepted=False/TargetNotFound: spec.targetRef: Service demo/nope not found',
  );
  const invalid = b.apply(
    up(localRateLimit('later', rateLimitSpec('reviews', { total: { requestsPerSecond: -1 } }), { created: '2026-06-01T00:00:00Z' })),
  );
  assert.equal(
    statusOf(invalid, 'later'),
    'Accepted=False/Invalid: spec.total.requestsPerSecond: must be an integer from 1 to 2147483647, got number -1; the last valid version stays in force',
  );
  assert.equal(trafficOf(b)?.rateLimit?.total?.requestsPerSecond, 1);
});

test('HTTPFault status: Accepted, or Invalid naming the field', () => {
  const b = builder();
  const ok = b.apply(up(httpFault('slow', { delay: { fixedDelay: '200ms' } })));
  assert.equal(statusOf(ok, 'slow'), 'Accepted=True/Accepted: applied by the waypoints of the routes that reference it');
  assert.deepEqual(ok.status[0]?.target, { apiVersion: 'ambit.dev/v1alpha1', plural: 'httpfaults', namespace: 'demo', name: 'slow' });
  const bad = b.apply(up(httpFault('slow', { abort: { httpStatus: 503, grpcStatus: 14 } })));
  assert.equal(
    statusOf(bad, 'slow'),
    'Accepted=False/Invalid: spec.abort: needs exactly one of httpStatus and grpcStatus; the last valid version stays in force',
  );
  assert.deepEqual(b.snapshot(), [], 'faults travel in route sets, not in ServiceTraffic');
});

test('one Service with all three sources; removing them one by one removes the resource only at the end', () => {
  const s = service('reviews');
  (s['metadata'] as Record<string, unknown>)['annotations'] = { 'ambit.dev/retry-budget': 'retryRatio=0.1' };
  const b = builder(
    s,
    destinationRule('reviews', { host: 'reviews' }),
    localRateLimit('limit', rateLimitSpec('reviews', { total: { requestsPerSecond: 5 } })),
  );
  const t = trafficOf(b);
  assert.equal(t?.destinationRule, 'demo/reviews');
  assert.equal(t?.retryBudget?.retryRatio, 0.1);
  assert.equal(t?.rateLimit?.policy, 'demo/limit');
  b.apply(del(destinationRule('reviews', { host: 'reviews' })));
  b.apply(up(service('reviews')));
  assert.deepEqual(Object.keys(trafficOf(b) ?? {}).sort(), ['rateLimit', 'service', 'subsets']);
  assert.deepEqual(b.apply(del(localRateLimit('limit', rateLimitSpec('reviews')))).traffic.removed, [REVIEWS]);
  // The Service going away removes everything it had.
  b.apply(up(destinationRule('reviews', { host: 'reviews' })));
  const gone = b.apply(del(service('reviews')));
  assert.deepEqual(gone.traffic.removed, [REVIEWS]);
  assert.equal(statusOf(gone, 'reviews'), 'WaypointAccepted=False/TargetNotFound: host reviews: Service demo/reviews not found');
});

test("an unreadable Pod or Service is the model's to report; the traffic builder keeps its last good view quietly", () => {
  const b = builder(
    pod('reviews-a', { labels: { app: 'reviews', version: 'v1' } }),
    destinationRule('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
  );
  const broken = pod('reviews-a', { labels: { app: 'reviews', version: 'v1' } });
  (broken['spec'] as Record<string, unknown>)['containers'] = 'nope';
  const delta = b.apply(up(broken));
  assert.deepEqual(delta.errors, []);
  assert.deepEqual(trafficOf(b)?.subsets[0]?.workloads, ['Kubernetes//Pod/demo/reviews-a']);
  const noHost = b.apply(up({ ...destinationRule('x', {}), metadata: { name: 'x' } }));
  assert.equal(noHost.errors.length, 1, 'our own kinds are reported, even when their metadata does not read');
});
