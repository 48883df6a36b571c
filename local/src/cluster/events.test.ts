import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { asRecord, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../testing/kubectl.ts';
import type { KubeObject } from '../kube/types.ts';
import { storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';
import type { Controller } from './controller.ts';
import { startDeploymentController } from './deployment-controller.ts';
import { EventRecorder } from './events.ts';
import { startReplicaSetController } from './replicaset-controller.ts';

/** Events: aggregation, expiry, what the controllers record, and how kubectl shows them (real kubectl, real server). */

const log = silentLogger();
const store = new ObjectStore();
const view = storeView(store);
const events = store.typeOf({ apiVersion: 'v1', kind: 'Event' });
let clock = Date.parse('2026-01-01T00:00:00Z');
const recorder = new EventRecorder({ view, log, ttlMs: 3_600_000, now: () => new Date(clock) });
const controllers: Controller[] = [];
let k: KubectlFixture;

function eventsOf(name: string): KubeObject[] {
  return store.list(events, { namespace: 'default' }).items.filter((e) => asRecord(e['involvedObject'])['name'] === name);
}

const pod = (name: string): KubeObject =>
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'busybox' }] },
  });

void describe('EventRecorder', () => {
  after(() => recorder.close());

  void it('aggregates a repeat into count and lastTimestamp, and expires an Event an hour after its last occurrence', () => {
    const p = pod('crashy');
    const kubelet = { component: 'kubelet', host: 'node-1' };
    recorder.record(p, 'Warning', 'BackOff', 'Back-off restarting failed container c', kubelet, 'spec.containers{c}');
    clock += 30_000;
    recorder.record(p, 'Warning', 'BackOff', 'Back-off restarting failed container c', kubelet, 'spec.containers{c}');
    recorder.record(p, 'Normal', 'Killing', 'Stopping container c', kubelet, 'spec.containers{c}');
    const backoff = eventsOf('crashy').filter((e) => e['reason'] === 'BackOff');
    assert.equal(backoff.length, 1);
    assert.equal(backoff[0]?.['count'], 2);
    assert.equal(backoff[0]?.['firstTimestamp'], '2026-01-01T00:00:00Z');
    assert.equal(backoff[0]?.['lastTimestamp'], '2026-01-01T00:00:30Z');
    assert.deepEqual(backoff[0]?.['involvedObject'], {
      kind: 'Pod',
      apiVersion: 'v1',
      name: 'crashy',
      namespace: 'default',
      uid: p.metadata.uid,
      resourceVersion: p.metadata.resourceVersion,
      fieldPath: 'spec.containers{c}',
    });
    assert.deepEqual(backoff[0]?.['source'], kubelet);
    clock += 3_600_000 - 1000;
    recorder.sweep();
    assert.equal(eventsOf('crashy').length, 2, 'not yet an hour since the last occurrence');
    clock += 2000;
    recorder.sweep();
    assert.equal(eventsOf('crashy').length, 0);
    // A repeat after expiry starts a new Event.
    recorder.record(p, 'Warning', 'BackOff', 'Back-off restarting failed container c', kubelet, 'spec.containers{c}');
    assert.equal(eventsOf('crashy')[0]?.['count'], 1);
  });

  void it('the deployment and replicaset controllers record ScalingReplicaSet and SuccessfulCreate/Delete', async () => {
    controllers.push(startDeploymentController(view, log, recorder), startReplicaSetController(view, log, recorder));
    store.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    });
    const rsName = await eventually(() => {
      const scaling = eventsOf('web').find((e) => e['reason'] === 'ScalingReplicaSet');
      assert.match(String(scaling?.['message']), /^Scaled up replica set web-\w+ to 2$/);
      return String(scaling?.['message']).split(' ')[4] ?? '';
    }, 10_000);
    await eventually(() => {
      const created = eventsOf(rsName).find((e) => e['reason'] === 'SuccessfulCreate');
      assert.match(String(created?.['message']), new RegExp(`^Created pod: ${rsName}-\\w+$`));
    }, 10_000);
    const deploy = store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' });
    store.patch(deploy, 'default', 'web', { spec: { replicas: 1 } }, { patchType: 'merge' });
    await eventually(() => {
      const messages = eventsOf('web').map((e) => e['message']);
      assert.ok(messages.includes(`Scaled down replica set ${rsName} from 2 to 1`), String(messages));
      assert.ok(eventsOf(rsName).some((e) => e['reason'] === 'SuccessfulDelete'));
    }, 10_000);
  });
});

void describe('kubectl get events and describe pod', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    k = await startKubectlFixture(store);
    clock = Date.now();
    const p = pod('shown');
    recorder.record(p, 'Normal', 'Scheduled', 'Successfully assigned default/shown to node-1', { component: 'default-scheduler' });
    recorder.record(p, 'Normal', 'Started', 'Started container c', { component: 'kubelet', host: 'node-1' }, 'spec.containers{c}');
    recorder.record(p, 'Normal', 'Started', 'Started container c', { component: 'kubelet', host: 'node-1' }, 'spec.containers{c}');
  });
  after(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    await k.close();
  });

  void it('get events lists them with kubectl columns; -o wide adds source and count', async () => {
    const out = await k.kubectlOk('get', 'events');
    assert.match(out.split('\n')[0] ?? '', /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    assert.match(out, /^\S+\s+Normal\s+Scheduled\s+pod\/shown\s+Successfully assigned default\/shown to node-1$/m);
    const wide = await k.kubectlOk('get', 'events', '-o', 'wide', '--field-selector', 'involvedObject.name=shown,reason=Started');
    assert.match(wide, /pod\/shown\s+spec\.containers\{c\}\s+kubelet, node-1\s+Started container c\s+\S+\s+2\s+shown\.\w+$/m);
  });

  void it('describe pod ends with its events', async () => {
    const out = await k.kubectlOk('describe', 'pod', 'shown');
    assert.match(out, /^Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n/m);
    assert.match(out, /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/shown to node-1/);
    assert.match(out, /Normal\s+Started\s+\S+ \(x2 over \S+\)\s+kubelet\s+Started container c/);
  });
});
