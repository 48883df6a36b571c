import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { asRecord, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KubeClient, type RunningInformer } from '@ambit/core/kube';
import { WaypointDeployer } from '../../controller/src/waypoint/waypoint-deployer.ts';
import { startGarbageCollector } from '../../local/src/cluster/garbage-collector.ts';
import type { Controller } from '../../local/src/cluster/controller.ts';
import type { KubeObject } from '../../local/src/kube/types.ts';
import { gcStore } from '../../local/src/runner/store-adapter.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { startControllerInformers } from './helpers/controller-informers.ts';
import { LocalApi } from './helpers/local-api.ts';

// The waypoint deployer against the local cluster's Kubernetes-style API, through the controller's own informers:
// what it creates, how it repairs drift, that only a leader writes, what it leaves alone, and what removes its objects.

const store = new ObjectStore({ namespaces: ['default', 'mesh'] });
const api = new LocalApi(store);
const types = {
  sa: store.typeOf({ apiVersion: 'v1', kind: 'ServiceAccount' }),
  svc: store.typeOf({ apiVersion: 'v1', kind: 'Service' }),
  deploy: store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' }),
  gw: store.typeOf({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway' }),
  gc: store.typeOf({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass' }),
};
let leading = false;
const problems = new Map<string, string | undefined>();
const seen = new Set<string>();
let deployer: WaypointDeployer;
let gc: Controller;
const informers: RunningInformer[] = [];

before(async () => {
  await api.start();
  const kc = api.kubeConfig();
  const client = new KubeClient(kc);
  deployer = new WaypointDeployer({
    client,
    deploy: {
      trustDomain: 'cluster.local',
      controllerAddress: 'unix:/run/ambit-test/xds.sock',
      image: 'ghcr.io/ambit-dev/ambit:test',
      command: { argv: ['/opt/waypoint-stand-in'], workingDir: '/' },
      caCredential: { kind: 'minted', mint: (ns, sa) => `minted-${ns}-${sa}` },
      exitWithParent: true,
    },
    isLeader: () => leading,
    log: silentLogger(),
    onProblem: (key, message) => problems.set(key, message),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  gc = startGarbageCollector(gcStore(store), silentLogger());
  // Routed as app.ts routes them.
  informers.push(
    ...startControllerInformers({
      kc,
      client,
      log: silentLogger(),
      kinds: ['Gateway', 'GatewayClass', 'Deployment', 'Service', 'ServiceAccount'],
      onEvent: (type, obj, kind) => {
        const meta = asRecord(obj['metadata']);
        seen.add(`${type} ${kind} ${String(meta['namespace'] ?? '')}/${String(meta['name'])} ${String(meta['resourceVersion'])}`);
        if (kind === 'Gateway') deployer.gateway(type, obj);
        else if (kind === 'GatewayClass') deployer.gatewayClass(type, obj);
        else deployer.owned(obj);
      },
    }),
  );
  await Promise.all(informers.map((i) => i.synced));
});

after(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  await deployer.stop();
  await gc.stop();
  await api.stop();
});

function gateway(name: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: 'mesh', labels: { 'istio.io/waypoint-for': 'service' } },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      infrastructure: { labels: { team: 'payments' }, annotations: { 'example.com/owner': 'payments' } },
      ...extra,
    },
  };
}

const find = (t: keyof typeof types, name: string, ns: string | undefined = 'mesh'): KubeObject | undefined =>
  store.find(types[t], ns, name);
const container = (d: KubeObject | undefined): Record<string, unknown> =>
  asRecord((asRecord(asRecord(asRecord(d?.['spec'])['template'])['spec'])['containers'] as unknown[] | undefined)?.[0]);

/** Waits until the informers delivered an event for `gateway` at its current version, then for the deployer's queue. */
async function settled(kind: string, name: string): Promise<void> {
  const t = kind === 'Gateway' ? types.gw : types.deploy;
  await eventually(() => {
    const rv = store.find(t, 'mesh', name)?.metadata.resourceVersion;
    assert.ok(
      [...seen].some((s) => s.startsWith(`upsert ${kind} mesh/${name} `) && s.endsWith(` ${rv}`)),
      `${kind} ${name} seen`,
    );
  }, 5000);
  await deployer.idle();
}

test('a replica that does not lead writes nothing', async () => {
  store.create(gateway('wp'));
  await settled('Gateway', 'wp');
  assert.equal(find('sa', 'wp'), undefined);
  assert.equal(find('deploy', 'wp'), undefined);
  assert.equal(find('gc', 'istio-waypoint', undefined), undefined);
});

test('leading: the GatewayClass, and the waypoint’s ServiceAccount, Service and Deployment owned by its Gateway', async () => {
  leading = true;
  deployer.resync();
  await eventually(() => {
    for (const t of ['sa', 'svc', 'deploy'] as const) assert.ok(find(t, 'wp'), `${t} created`);
    assert.ok(find('gc', 'istio-waypoint', undefined), 'GatewayClass created');
  }, 5000);
  assert.equal(asRecord(find('gc', 'istio-waypoint', undefined)?.['spec'])['controllerName'], 'istio.io/mesh-controller');
  const uid = find('gw', 'wp')?.metadata.uid;
  for (const t of ['sa', 'svc', 'deploy'] as const) {
    const o = find(t, 'wp');
    assert.deepEqual(o?.metadata.ownerReferences, [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'wp', uid, controller: true },
    ]);
    assert.equal(o?.metadata.labels?.['team'], 'payments');
    assert.equal(o?.metadata.annotations?.['example.com/owner'], 'payments');
  }
  const d = find('deploy', 'wp');
  const env = container(d)['env'] as Array<Record<string, unknown>>;
  assert.equal(env.find((e) => e['name'] === 'AMBIT_CA_TOKEN')?.['value'], 'minted-mesh-wp');
  assert.deepEqual(container(d)['command'], ['/opt/waypoint-stand-in']);
  assert.equal(problems.get('mesh/wp'), undefined);
});

test('drift is repaired: an edited container, a deleted Service, a deleted GatewayClass; a scaled replica count is kept', async () => {
  store.patch(
    types.deploy,
    'mesh',
    'wp',
    { spec: { replicas: 3, template: { spec: { containers: [{ name: 'waypoint', command: ['/opt/changed-by-someone'] }] } } } },
    { patchType: 'merge' },
  );
  await eventually(
    () => assert.deepEqual(container(find('deploy', 'wp'))['command'], ['/opt/waypoint-stand-in'], 'container restored'),
    5000,
  );
  assert.equal(asRecord(find('deploy', 'wp')?.['spec'])['replicas'], 3, 'replicas are the operator’s');

  const svcUid = find('svc', 'wp')?.metadata.uid;
  store.delete(types.svc, 'mesh', 'wp');
  await eventually(() => assert.notEqual(find('svc', 'wp')?.metadata.uid ?? svcUid, svcUid, 'Service re-created'), 5000);

  store.patch(types.sa, 'mesh', 'wp', { metadata: { labels: { team: null } } }, { patchType: 'merge' });
  await eventually(() => assert.equal(find('sa', 'wp')?.metadata.labels?.['team'], 'payments', 'label restored'), 5000);

  store.delete(types.gc, undefined, 'istio-waypoint');
  await eventually(() => assert.ok(find('gc', 'istio-waypoint', undefined), 'GatewayClass re-created'), 5000);
});

test('a same-named object that is not the Gateway’s is left alone and reported', async () => {
  store.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'taken', namespace: 'mesh', labels: { mine: 'yes' } } });
  store.create(gateway('taken'));
  await eventually(
    () => assert.match(problems.get('mesh/taken') ?? '', /ServiceAccount mesh\/taken exists and is not owned by this Gateway/),
    5000,
  );
  assert.deepEqual(find('sa', 'taken')?.metadata.labels, { mine: 'yes' });
  assert.equal(find('sa', 'taken')?.metadata.ownerReferences, undefined);
  store.delete(types.sa, 'mesh', 'taken');
  await eventually(() => assert.equal(problems.get('mesh/taken'), undefined, 'cleared once the name is free'), 5000);
  assert.ok(find('sa', 'taken')?.metadata.ownerReferences);
});

test('an invalid Gateway deploys nothing', async () => {
  store.create(gateway('bad', { listeners: [{ name: 'mesh', port: 15009, protocol: 'HBONE' }] }));
  await settled('Gateway', 'bad');
  assert.equal(find('deploy', 'bad'), undefined);
});

test('a Gateway that changes class loses its objects; a deleted Gateway takes its objects with it', async () => {
  store.patch(types.gw, 'mesh', 'taken', { spec: { gatewayClassName: 'istio' } }, { patchType: 'merge' });
  await eventually(() => {
    for (const t of ['sa', 'svc', 'deploy'] as const) assert.equal(find(t, 'taken'), undefined, `${t} removed`);
  }, 5000);
  store.delete(types.gw, 'mesh', 'wp');
  for (const t of ['sa', 'svc', 'deploy'] as const) assert.equal(find(t, 'wp'), undefined, `${t} collected with its Gateway`);
  await deployer.idle();
  assert.equal(find('deploy', 'wp'), undefined, 'and not re-created');
});
