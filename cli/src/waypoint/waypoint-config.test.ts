import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMatch, formatWaypointConfig } from './waypoint-config.ts';

// The tables of `ambitctl waypoint-config`, from a dump in the shape waypoint/src/admin/config-dump.ts writes.

const dump = {
  routes: [
    {
      name: 'Service/demo/api.demo.svc.cluster.local',
      appliesTo: ['api.demo.svc.cluster.local:80'],
      rules: [
        {
          route: 'demo/canary',
          ruleIndex: 0,
          filters: [],
          backends: [
            { weight: 90, service: { namespace: 'demo', hostname: 'api-v1.demo.svc.cluster.local', port: 80 } },
            { weight: 10, service: { namespace: 'demo', hostname: 'api-v2.demo.svc.cluster.local', port: 80 } },
          ],
        },
        { route: 'demo/old', ruleIndex: 1, filters: [{ type: 'RequestRedirect', statusCode: 301 }], backends: [] },
      ],
      entries: [
        { match: { path: { type: 'PathPrefix', value: '/old' }, headers: [], queryParams: [] }, rule: 1 },
        { match: { headers: [], queryParams: [] }, rule: 0 },
      ],
    },
  ],
  backends: [
    {
      namespace: 'demo',
      hostname: 'api.demo.svc.cluster.local',
      vips: ['10.96.0.10'],
      served: true,
      ports: [{ port: 80, targetPort: 8080, protocol: 'http' }],
    },
  ],
  endpoints: [
    {
      service: 'api-v1.demo.svc.cluster.local',
      port: 80,
      endpoints: [
        { workload: 'api-v1-a', namespace: 'demo', address: '10.244.1.5', port: 8080, identity: 'spiffe://cluster.local/ns/demo/sa/api' },
      ],
    },
    { service: 'api-v2.demo.svc.cluster.local', port: 80, endpoints: [] },
  ],
  traffic: [
    {
      service: { namespace: 'demo', hostname: 'api.demo.svc.cluster.local' },
      destinationRule: 'demo/api',
      trafficPolicy: {
        loadBalancer: {
          kind: 'consistentHash',
          key: { type: 'header', name: 'x-user' },
          algorithm: { type: 'RING_HASH', minimumRingSize: 1024 },
        },
        outlierDetection: { consecutive5xxErrors: 3 },
      },
      subsets: [{ name: 'v1', workloads: ['Kubernetes//Pod/demo/api-v1-a'] }],
      retryBudget: { retryRatio: 0.1, minRetriesPerSecond: 5, ttlMs: 10000 },
      rateLimit: { policy: 'demo/limit', total: { requestsPerSecond: 10, burst: 1 }, overrides: [{ bucket: {}, identities: [] }] },
    },
    { service: { namespace: 'demo', hostname: 'db.demo.svc.cluster.local' }, subsets: [] },
  ],
};

test('routes: one row per match in precedence order, with the rule and its backends or redirect', () => {
  assert.equal(
    formatWaypointConfig('routes', [{ pod: 'demo/waypoint-1', dump }]),
    [
      'WAYPOINT          ROUTE SET                                 APPLIES TO                      RULE            MATCH             BACKENDS',
      'demo/waypoint-1   Service/demo/api.demo.svc.cluster.local   api.demo.svc.cluster.local:80   demo/old#1      PathPrefix /old   redirect 301',
      'demo/waypoint-1   Service/demo/api.demo.svc.cluster.local   api.demo.svc.cluster.local:80   demo/canary#0   *                 api-v1.demo.svc.cluster.local:80 90, api-v2.demo.svc.cluster.local:80 10',
    ].join('\n'),
  );
});

test('backends and endpoints', () => {
  assert.equal(
    formatWaypointConfig('backends', [{ pod: 'demo/waypoint-1', dump }]),
    [
      'WAYPOINT          NAMESPACE   HOSTNAME                     VIPS         PORTS          SERVED',
      'demo/waypoint-1   demo        api.demo.svc.cluster.local   10.96.0.10   80/http→8080   yes',
    ].join('\n'),
  );
  assert.equal(
    formatWaypointConfig('endpoints', [{ pod: 'demo/waypoint-1', dump }]),
    [
      'WAYPOINT          SERVICE                         PORT   ENDPOINT          WORKLOAD        IDENTITY',
      'demo/waypoint-1   api-v1.demo.svc.cluster.local   80     10.244.1.5:8080   demo/api-v1-a   spiffe://cluster.local/ns/demo/sa/api',
      'demo/waypoint-1   api-v2.demo.svc.cluster.local   80     (none)',
    ].join('\n'),
  );
});

test('a match reads as the route author wrote it', () => {
  assert.equal(
    describeMatch({
      path: { type: 'Exact', value: '/a' },
      headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }],
      queryParams: [{ type: 'RegularExpression', name: 'v', value: '[0-9]+' }],
      method: 'GET',
    }),
    'Exact /a, header x-canary=true, query v~[0-9]+, GET',
  );
});

test('traffic: one row per Service with its DestinationRule, policy, subsets, retry budget and rate limit', () => {
  assert.equal(
    formatWaypointConfig('traffic', [{ pod: 'demo/waypoint-1', dump }]),
    [
      'WAYPOINT          SERVICE                           DESTINATION RULE   POLICY                                SUBSETS   RETRY BUDGET      RATE LIMIT',
      'demo/waypoint-1   demo/api.demo.svc.cluster.local   demo/api           lb=RING_HASH(header x-user) outlier   v1(1)     10%+5/s ttl 10s   demo/limit: total 10/s burst 1, 1 override',
      'demo/waypoint-1   demo/db.demo.svc.cluster.local    -                  -                                     -         default           -',
    ].join('\n'),
  );
});
