import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceTraffic } from '@ambit/core/traffic';
import { makeService, NS, TestState } from '../../testing/fixture.ts';
import { createTrafficClusters } from './clusters.ts';

const svc = makeService('svc', '10.96.0.10', [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }]);
const traffic = (t: Partial<ServiceTraffic>): ServiceTraffic => ({ service: { namespace: NS, hostname: svc.hostname }, subsets: [], ...t });

test('a cluster per Service port survives pushes that keep its policy, and is replaced or dropped when it changes', () => {
  const state = new TestState();
  state.services = [svc];
  const events: string[] = [];
  const clusters = createTrafficClusters(state, { outlier: (_s, key, event) => events.push(`${key} ${event}`) });
  assert.equal(clusters.forBackend(svc, 80), undefined, 'no ServiceTraffic: the default path');
  state.traffic.set(`${NS}/${svc.hostname}`, traffic({ retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 } }));
  state.bump();
  assert.equal(clusters.forBackend(svc, 80), undefined, 'a retry budget alone does not make a cluster');

  const od = {
    consecutive5xxErrors: 1,
    consecutiveGatewayErrors: 0,
    intervalMs: 1000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 100,
    minHealthPercent: 0,
  };
  state.traffic.set(`${NS}/${svc.hostname}`, traffic({ trafficPolicy: { outlierDetection: od } }));
  state.bump();
  const c = clusters.forBackend(svc, 80);
  assert.ok(c !== undefined);
  assert.equal(clusters.forBackend(svc, 80), c);
  assert.notEqual(clusters.forBackend(svc, 81), c, 'one per port, as Envoy clusters');
  c.pick(state.endpoints(svc, 80), undefined, undefined);

  // The same policy in a new object (an unrelated push): same cluster.
  state.traffic.set(`${NS}/${svc.hostname}`, traffic({ trafficPolicy: { outlierDetection: { ...od } } }));
  state.bump();
  assert.equal(clusters.forBackend(svc, 80), c);

  state.traffic.set(`${NS}/${svc.hostname}`, traffic({ trafficPolicy: { outlierDetection: { ...od, consecutive5xxErrors: 2 } } }));
  state.bump();
  const replaced = clusters.forBackend(svc, 80);
  assert.ok(replaced !== undefined && replaced !== c, 'a changed policy: a new cluster');

  state.traffic.delete(`${NS}/${svc.hostname}`);
  state.bump();
  assert.equal(clusters.forBackend(svc, 80), undefined);
  clusters.close();
});
