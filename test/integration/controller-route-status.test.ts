import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { ROUTE_SET_TYPE_URL } from '@ambit/core/routes';
import { eventually } from '@ambit/core/testing';
import { KubeClient, type RunningInformer } from '@ambit/core/kube';
import { createRoutePublisher, RouteBuilder } from '../../controller/src/routes/index.ts';
import { StatusWriter } from '../../controller/src/status/status-writer.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { startControllerInformers } from './helpers/controller-informers.ts';
import { LocalApi } from './helpers/local-api.ts';

// Route status end to end against the local cluster's Kubernetes-style API: the controller's informers feed the route
// builder, and the leader's StatusWriter writes `status.parents` entries of ours beside another controller's, which
// must survive — also when that controller writes at the same time (the write is conditional on resourceVersion).

const store = new ObjectStore({ namespaces: ['default', 'demo'] });
const api = new LocalApi(store);
const informers: RunningInformer[] = [];
after(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  await api.stop();
});

const routeType = store.typeOf({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' });
const theirs = {
  parentRef: { name: 'public', namespace: 'demo' },
  controllerName: 'example.com/gateway-controller',
  conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', lastTransitionTime: '2026-01-01T00:00:00Z' }],
};

interface ParentStatus {
  controllerName: string;
  parentRef: Record<string, unknown>;
  conditions: Array<{ type: string; status: string; reason: string; observedGeneration?: number }>;
}

function parentsOf(name: string): ParentStatus[] {
  const status = store.get(routeType, 'demo', name)['status'] as { parents?: ParentStatus[] } | undefined;
  return status?.parents ?? [];
}

test('route status: ours written beside another controller’s entries, which survive that controller’s later write', async () => {
  await api.start();
  const kc = api.kubeConfig();
  const client = new KubeClient(kc);
  const log = silentLogger();
  const published: string[] = [];
  const routes = new RouteBuilder();
  const publish = createRoutePublisher({
    xds: {
      publish: (typeUrl, changes) =>
        published.push(`${typeUrl} +${changes.upserted.map((u) => u.name).join(',')} -${changes.removed.join(',')}`),
    },
    status: new StatusWriter(client, log, () => true),
    log,
  });
  informers.push(
    ...startControllerInformers({
      kc,
      client,
      log,
      kinds: ['Service', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant'],
      backoff: { initialMs: 50, maxMs: 200 },
      onEvent: (type, object) => publish(routes.apply({ type, object })),
    }),
  );
  // Every kind the routes need is served (GRPCRoute and ReferenceGrant included): each informer lists and syncs.
  await Promise.all(informers.map((i) => i.synced));

  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'demo' },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  store.create({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r', namespace: 'demo' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'web' }, { name: 'public' }],
      rules: [{ backendRefs: [{ name: 'web', port: 80 }] }, { filters: [{ type: 'RequestMirror' }] }],
    },
  });
  store.patch(routeType, 'demo', 'r', { status: { parents: [theirs] } }, { patchType: 'merge', subresource: 'status' });

  await eventually(() => {
    const parents = parentsOf('r');
    assert.deepEqual(parents[0], theirs, 'their entry first, untouched');
    const ours = parents.find((p) => p.controllerName === 'istio.io/mesh-controller');
    assert.ok(ours, 'our entry');
    assert.deepEqual(ours.parentRef, { group: '', kind: 'Service', name: 'web' });
    assert.deepEqual(
      ours.conditions.map((c) => `${c.type}=${c.status}/${c.reason}@${c.observedGeneration}`),
      ['Accepted=True/Accepted@1', 'ResolvedRefs=True/ResolvedRefs@1', 'PartiallyInvalid=True/UnsupportedValue@1'],
    );
    // The Gateway `public` does not exist: we report it (it could be ours), NoMatchingParent.
    assert.equal(parents.filter((p) => p.controllerName === 'istio.io/mesh-controller').length, 2);
  }, 5000);
  assert.ok(
    published.some((p) => p.startsWith(`${ROUTE_SET_TYPE_URL} +Service/demo/web.demo.svc.cluster.local`)),
    published.join('\n'),
  );

  // The other controller updates its entry while a spec change makes ours change too: both end up written.
  store.patch(routeType, 'demo', 'r', { spec: { rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] } }, { patchType: 'merge' });
  const theirsLater = { ...theirs, conditions: [{ ...theirs.conditions[0], message: 'theirs, later' }] };
  const current = parentsOf('r');
  store.patch(
    routeType,
    'demo',
    'r',
    { status: { parents: [theirsLater, ...current.slice(1)] } },
    { patchType: 'merge', subresource: 'status' },
  );
  await eventually(() => {
    const parents = parentsOf('r');
    assert.deepEqual(parents[0], theirsLater);
    const ours = parents.find((p) => p.controllerName === 'istio.io/mesh-controller');
    assert.deepEqual(
      ours?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}@${c.observedGeneration}`),
      ['Accepted=True/Accepted@2', 'ResolvedRefs=True/ResolvedRefs@2'],
    );
  }, 5000);
});
