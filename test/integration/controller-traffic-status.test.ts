import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KubeClient, type RunningInformer } from '@ambit/core/kube';
import { decodeServiceTraffic, SERVICE_TRAFFIC_TYPE_URL, type ServiceTraffic } from '@ambit/core/traffic';
import { StatusWriter } from '../../controller/src/status/status-writer.ts';
import { createTrafficPublisher, TrafficBuilder } from '../../controller/src/traffic/index.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { startControllerInformers } from './helpers/controller-informers.ts';
import { LocalApi } from './helpers/local-api.ts';

// DestinationRule status end to end against the local cluster's Kubernetes-style API: the controller's informers feed
// the traffic builder (the ambit.dev kinds too, whether or not their CRDs are served yet), the leader's StatusWriter
// writes `WaypointAccepted`, and a bad update names the field while the last good policy stays published.

const store = new ObjectStore({ namespaces: ['default', 'demo'] });
const api = new LocalApi(store);
const informers: RunningInformer[] = [];
after(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  await api.stop();
});

const drType = store.typeOf({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' });

function conditionOf(name: string): string {
  const status = store.get(drType, 'demo', name)['status'] as
    { conditions?: Array<{ type: string; status: string; reason: string; message: string; observedGeneration?: number }> } | undefined;
  const c = status?.conditions?.[0];
  return c === undefined ? '' : `${c.type}=${c.status}/${c.reason}@${c.observedGeneration}: ${c.message}`;
}

test('DestinationRule status: WaypointAccepted written by the leader; a bad field is named and the last good policy stays', async () => {
  await api.start();
  const kc = api.kubeConfig();
  const client = new KubeClient(kc);
  const log = silentLogger();
  const published = new Map<string, ServiceTraffic>();
  const traffic = new TrafficBuilder();
  const publish = createTrafficPublisher({
    xds: {
      publish: (typeUrl, changes) => {
        assert.equal(typeUrl, SERVICE_TRAFFIC_TYPE_URL);
        for (const u of changes.upserted) published.set(u.name, decodeServiceTraffic(u.name, u.body));
        for (const r of changes.removed) published.delete(r);
      },
    },
    status: new StatusWriter(client, log, () => true),
    log,
  });
  informers.push(
    ...startControllerInformers({
      kc,
      client,
      log,
      kinds: ['Namespace', 'Service', 'Pod', 'Gateway', 'DestinationRule', 'LocalRateLimit', 'HTTPFault'],
      backoff: { initialMs: 50, maxMs: 200 },
      onEvent: (type, object) => publish(traffic.apply({ type, object })),
    }),
  );
  // Every informer syncs, also for a kind the API may not serve (then it counts as empty).
  await Promise.all(informers.map((i) => i.synced));

  store.patch(
    store.typeOf({ apiVersion: 'v1', kind: 'Namespace' }),
    '',
    'demo',
    { metadata: { labels: { 'istio.io/use-waypoint': 'waypoint' } } },
    { patchType: 'merge' },
  );
  store.create({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'demo' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'reviews', namespace: 'demo' },
    spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  store.create({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'reviews', namespace: 'demo' },
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 1 } }, tls: { mode: 'ISTIO_MUTUAL' } } },
  });
  await eventually(() => {
    assert.equal(
      conditionOf('reviews'),
      'WaypointAccepted=True/Accepted@1: applied by waypoint demo/waypoint to reviews.demo.svc.cluster.local; ' +
        'ignored: spec.trafficPolicy.tls: the waypoint always reaches endpoints over HBONE mTLS',
    );
    assert.deepEqual(published.get('demo/reviews.demo.svc.cluster.local')?.trafficPolicy, {
      connectionPool: { http1MaxPendingRequests: 1 },
    });
  }, 5000);

  store.patch(
    drType,
    'demo',
    'reviews',
    { spec: { trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: -1 } } } } },
    { patchType: 'merge' },
  );
  await eventually(
    () =>
      assert.equal(
        conditionOf('reviews'),
        'WaypointAccepted=False/Invalid@2: spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: must be an integer from 0 to 2147483647, got number -1; the last valid version stays in force',
      ),
    5000,
  );
  assert.deepEqual(published.get('demo/reviews.demo.svc.cluster.local')?.trafficPolicy, { connectionPool: { http1MaxPendingRequests: 1 } });

  // Fixed, then edited without changing what the status says: observedGeneration follows each edit.
  store.patch(
    drType,
    'demo',
    'reviews',
    { spec: { trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 2 } } } } },
    { patchType: 'merge' },
  );
  await eventually(() => assert.match(conditionOf('reviews'), /^WaypointAccepted=True\/Accepted@3: /), 5000);
  store.patch(
    drType,
    'demo',
    'reviews',
    { spec: { trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: 3 } } } } },
    { patchType: 'merge' },
  );
  await eventually(() => assert.match(conditionOf('reviews'), /^WaypointAccepted=True\/Accepted@4: /), 5000);
  assert.deepEqual(published.get('demo/reviews.demo.svc.cluster.local')?.trafficPolicy, { connectionPool: { http1MaxPendingRequests: 3 } });
});
