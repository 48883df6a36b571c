import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { asRecord } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { gcStore, storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';
import { startKubectlFixture } from '../../testing/kubectl.ts';
import { needsNetwork, tempDir, withTopology } from '../../testing/network.ts';
import { createAdmission } from './admission.ts';
import type { Controller } from './controller.ts';
import { startDeploymentController } from './deployment-controller.ts';
import { startEndpointSliceController } from './endpointslice-controller.ts';
import { EventRecorder } from './events.ts';
import { startGarbageCollector } from './garbage-collector.ts';
import { Kubelet } from './kubelet.ts';
import { startReplicaSetController } from './replicaset-controller.ts';
import type { StoreView } from './store-view.ts';

// A Deployment whose pods carry a readiness probe (httpGet on a named port) and a liveness probe (exec), run by the
// real kubelet in real pod namespaces, read back with the real kubectl. Each pod's health is a file in its own state
// directory (local/testing/probe-target.ts), so the test flips readiness and liveness per pod.

const PROBE_TARGET = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'testing', 'probe-target.ts');

function deployment(stateDir: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'app',
              command: ['sh', '-c', `mkdir -p "$STATE" && exec ${process.execPath} ${PROBE_TARGET} --state "$STATE" --http 8080`],
              env: [{ name: 'STATE', value: `${stateDir}/$(HOSTNAME)` }],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
              livenessProbe: { exec: { command: ['sh', '-c', 'test ! -e "$STATE/dead"'] }, periodSeconds: 1, failureThreshold: 1 },
            },
          ],
        },
      },
    },
  };
}

test('readiness gates the pod, its endpoint and a rolling update; liveness restarts the container', async (t) => {
  if (!needsNetwork(t, ['/usr/bin/nsenter', '/usr/bin/socat', '/usr/bin/kubectl'])) return;
  const { topology, log } = await withTopology(t, 'kprobe', 1);
  const node = topology.nodes[0];
  assert.ok(node);
  const stateDir = await tempDir(t, 'kprobe-state');
  const logDir = await tempDir(t, 'kprobe-logs');
  const bound: { view?: StoreView } = {};
  const store = new ObjectStore({
    admission: [{ admit: createAdmission(() => bound.view as StoreView, [node.name]) }],
    namespaces: ['default'],
  });
  const view = storeView(store);
  bound.view = view;
  const events = new EventRecorder({ view, log });
  const controllers: Controller[] = [
    startDeploymentController(view, log, events),
    startReplicaSetController(view, log, events),
    startEndpointSliceController(view, log),
    startGarbageCollector(gcStore(store), log),
  ];
  const kubelet = new Kubelet(view, { topology, node, logDir, defaultWorkdir: stateDir, log, events });
  const k = await startKubectlFixture(store, { podLogDir: logDir });
  // Registered after withTopology's teardown, so it runs first: pods stop before their namespaces go.
  t.after(async () => {
    await k.close();
    await kubelet.shutdown(1000);
    await Promise.all(controllers.map((c) => c.stop()));
    events.close();
  });

  view.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
  });
  view.create(deployment(stateDir));
  const live = (): KubeObject[] => view.list('Pod', 'default').filter((p) => p.metadata.deletionTimestamp === undefined);
  const cond = (pod: KubeObject, type: string): Record<string, unknown> | undefined =>
    (asRecord(pod['status'])['conditions'] as unknown[] | undefined)?.map(asRecord).find((c) => c['type'] === type);
  const container = (pod: KubeObject): Record<string, unknown> => asRecord((asRecord(pod['status'])['containerStatuses'] as unknown[])[0]);
  const fresh = (name: string): KubeObject => {
    const p = view.find('Pod', 'default', name);
    assert.ok(p, `pod ${name} exists`);
    return p;
  };

  // 1. Running but not ready: the probe sees 503.
  const first = await eventually(() => {
    const [p] = live();
    assert.ok(p, 'the pod exists');
    assert.equal(asRecord(p['status'])['phase'], 'Running');
    return p.metadata.name ?? '';
  }, 20_000);
  await eventually(() =>
    assert.match(
      JSON.stringify(view.list('Event', 'default').map((e) => [e['reason'], e['message']])),
      /"Unhealthy","Readiness probe failed: HTTP probe failed with statuscode: 503"/,
    ),
  );
  let pod = fresh(first);
  assert.equal(cond(pod, 'Ready')?.['status'], 'False');
  assert.equal(cond(pod, 'Ready')?.['reason'], 'ContainersNotReady');
  assert.equal(cond(pod, 'ContainersReady')?.['message'], 'containers with unready status: [app]');
  assert.deepEqual([container(pod)['started'], container(pod)['ready']], [true, false]);
  const slice = (): Record<string, unknown>[] =>
    view.list('EndpointSlice', 'default').flatMap((s) => ((s['endpoints'] as unknown[] | undefined) ?? []).map(asRecord));
  await eventually(() => assert.deepEqual(slice()[0]?.['conditions'], { ready: false, serving: false, terminating: false }));
  const waiting = await k.kubectl('rollout', 'status', 'deploy/web', '--timeout=2s');
  assert.notEqual(waiting.code, 0, 'rollout status waits for a ready pod');
  assert.match(waiting.stdout, /Waiting for deployment "web" rollout to finish: 0 of 1 updated replicas are available\.\.\./);

  // 2. Ready once the app says so.
  await writeFile(join(stateDir, first, 'ready'), '');
  await eventually(() => assert.equal(cond(fresh(first), 'Ready')?.['status'], 'True'));
  await eventually(() => assert.deepEqual(slice()[0]?.['conditions'], { ready: true, serving: true, terminating: false }));
  assert.match(await k.kubectlOk('rollout', 'status', 'deploy/web', '--timeout=20s'), /deployment "web" successfully rolled out/);
  assert.match(await k.kubectlOk('get', 'pods'), new RegExp(`${first}\\s+1/1\\s+Running`));

  // 3. A rolling update waits for the new pod's readiness before the old pod goes.
  await k.kubectlOk('rollout', 'restart', 'deploy/web');
  const second = await eventually(() => {
    const p = live().find((x) => x.metadata.name !== first);
    assert.ok(p, 'a new pod is created next to the old one');
    assert.equal(asRecord(p['status'])['phase'], 'Running');
    return p.metadata.name ?? '';
  }, 20_000);
  const watch = k.spawn('rollout', 'status', 'deploy/web', '--timeout=60s');
  await eventually(() => assert.match(watch.output(), /1 old replicas are pending termination/), 10_000);
  // Several readiness periods of the new pod: the old one must still be serving.
  await eventually(() => {
    const failed = view
      .list('Event', 'default')
      // The first attempts may find nothing listening yet ("connection refused"): a separate Event.
      .find(
        (e) =>
          asRecord(e['involvedObject'])['name'] === second &&
          e['message'] === 'Readiness probe failed: HTTP probe failed with statuscode: 503',
      );
    assert.ok(Number(failed?.['count'] ?? 0) >= 2, 'the new pod failed its readiness probe twice');
  }, 10_000);
  assert.equal(fresh(first).metadata.deletionTimestamp, undefined, 'the old pod stays while the new one is not ready');
  assert.equal(watch.child.exitCode, null, 'rollout status is still waiting');
  await writeFile(join(stateDir, second, 'ready'), '');
  assert.equal(await watch.exited, 0, watch.output());
  assert.match(watch.output(), /deployment "web" successfully rolled out/);
  await eventually(() => assert.equal(view.find('Pod', 'default', first), undefined, 'the old pod is gone'), 20_000);

  // 4. Liveness: a failed probe kills the container, which restarts (restartPolicy Always) and is ready again.
  await writeFile(join(stateDir, second, 'dead'), '');
  await eventually(() => {
    const killed = view.list('Event', 'default').find((e) => e['reason'] === 'Killing' && asRecord(e['involvedObject'])['name'] === second);
    assert.equal(killed?.['message'], 'Container app failed liveness probe, will be restarted');
  }, 10_000);
  // The restart comes after the 1 s back-off, long after this: the new run starts healthy.
  await rm(join(stateDir, second, 'dead'));
  await eventually(() => {
    pod = fresh(second);
    assert.equal(container(pod)['restartCount'], 1);
    assert.equal(container(pod)['ready'], true);
  }, 20_000);
  assert.match(
    JSON.stringify(view.list('Event', 'default').map((e) => e['message'])),
    /Liveness probe failed: /,
    'the failed liveness probe was reported',
  );
});
