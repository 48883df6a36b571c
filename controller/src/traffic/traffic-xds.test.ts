import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { decodeServiceTraffic, SERVICE_TRAFFIC_TYPE_URL } from '@ambit/core/traffic';
import { gateway, namespace, pod, service } from '../../testing/kube-objects.ts';
import { destinationRule, localRateLimit, rateLimitSpec } from '../../testing/traffic-objects.ts';
import { harness } from '../../testing/xds-harness.ts';
import { TrafficBuilder } from './traffic-builder.ts';
import { createTrafficPublisher } from './traffic-publisher.ts';

const REVIEWS = 'demo/reviews.demo.svc.cluster.local';

test('ServiceTraffic reaches a subscribed waypoint over delta-xDS, decodes there, and follows updates and removals', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const statusWrites: string[] = [];
  const traffic = new TrafficBuilder();
  const publish = createTrafficPublisher({
    xds: server,
    status: {
      set: async (target, conditions) =>
        void statusWrites.push(`${target.plural}/${target.name} ${conditions[0]?.type}=${conditions[0]?.status}`),
      forget: (target) => void statusWrites.push(`forget ${target.plural}/${target.name}`),
    },
    log: silentLogger(),
  });
  const apply = (type: 'upsert' | 'delete', object: Record<string, unknown>): void => publish(traffic.apply({ type, object }));

  // A waypoint subscribes as wp-guards' config link does: the type decoded with core's decodeServiceTraffic (NACK on failure).
  const waypoint = h.subscribe(server.address, SERVICE_TRAFFIC_TYPE_URL, decodeServiceTraffic);

  apply('upsert', namespace('demo', { 'istio.io/use-waypoint': 'waypoint' }));
  apply('upsert', gateway('waypoint'));
  apply('upsert', service('reviews'));
  apply('upsert', pod('reviews-1', { labels: { app: 'reviews', version: 'v1' } }));
  apply(
    'upsert',
    destinationRule('reviews', {
      host: 'reviews',
      trafficPolicy: {
        connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, idleTimeout: '30s' } },
        outlierDetection: { consecutive5xxErrors: 3, interval: '1s', baseEjectionTime: '5s', maxEjectionPercent: 50 },
        loadBalancer: { consistentHash: { httpCookie: { name: 'user', ttl: '1h' }, maglev: {} } },
      },
      subsets: [{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } }],
    }),
  );
  apply(
    'upsert',
    localRateLimit(
      'limit',
      rateLimitSpec('reviews', {
        total: { requestsPerSecond: 10 },
        identity: { requestsPerSecond: 5 },
        overrides: [{ requestsPerSecond: 20, clientRefs: [{ kind: 'ServiceAccount', name: 'client' }] }],
      }),
    ),
  );
  await eventually(() => assert.deepEqual(waypoint.held().get(REVIEWS), traffic.snapshot()[0]), 2000);
  const got = waypoint.held().get(REVIEWS);
  assert.equal(got?.subsets[0]?.workloads[0], 'Kubernetes//Pod/demo/reviews-1');
  assert.deepEqual(got?.rateLimit?.overrides[0]?.identities, ['spiffe://cluster.local/ns/demo/sa/client']);
  assert.deepEqual(statusWrites, ['destinationrules/reviews WaypointAccepted=True', 'localratelimits/limit Accepted=True']);

  // A label change moves the pod out of the subset; the waypoint sees it.
  apply('upsert', pod('reviews-1', { labels: { app: 'reviews', version: 'v2' } }));
  await eventually(() => assert.deepEqual(waypoint.held().get(REVIEWS)?.subsets[0]?.workloads, []), 1000);

  apply('delete', destinationRule('reviews', { host: 'reviews' }));
  await eventually(() => assert.equal(waypoint.held().get(REVIEWS)?.destinationRule, undefined), 1000);
  apply('delete', localRateLimit('limit', rateLimitSpec('reviews')));
  await eventually(() => assert.equal(waypoint.held().size, 0), 1000);
  assert.deepEqual(statusWrites.slice(-2), ['forget destinationrules/reviews', 'forget localratelimits/limit']);
  assert.deepEqual(waypoint.nacks, []);
});
