import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asRecord } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../testing/kubectl.ts';
import { ObjectStore } from '../store/object-store.ts';

/** kubectl scale, rollout status/restart and logs against the API server (real kubectl, real HTTPS server). */

const store = new ObjectStore();
const deployments = store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' });
const pods = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
let k: KubectlFixture;
let logDir: string;

function seedDeployment(): void {
  store.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    },
  });
  for (const [name, containers] of [
    ['web-1', ['c']],
    ['two', ['a', 'b']],
  ] as const) {
    store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: name === 'web-1' ? { app: 'web' } : {} },
      spec: { nodeName: 'node-1', containers: containers.map((c) => ({ name: c, image: 'i' })) },
    });
    store.patch(pods, 'default', name, { status: { phase: 'Running' } }, { patchType: 'merge', subresource: 'status' });
  }
}

/** What the deployment controller writes once every replica runs the current template. */
function markRolledOut(): void {
  const d = store.get(deployments, 'default', 'web');
  const replicas = asRecord(d['spec'])['replicas'] as number;
  const status = {
    observedGeneration: d.metadata.generation,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: replicas,
    availableReplicas: replicas,
  };
  store.patch(deployments, 'default', 'web', { status }, { patchType: 'merge', subresource: 'status' });
}

void describe('kubectl scale, rollout and logs', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    seedDeployment();
    logDir = mkdtempSync(join(tmpdir(), 'ambit-podlogs-'));
    k = await startKubectlFixture(store, { podLogDir: logDir });
    mkdirSync(join(logDir, 'default', 'web-1'), { recursive: true });
    mkdirSync(join(logDir, 'default', 'two'), { recursive: true });
    writeFileSync(join(logDir, 'default', 'web-1', 'c.log'), 'one\ntwo\nthree\n');
    writeFileSync(join(logDir, 'default', 'two', 'b.log'), 'from b\n');
  });
  after(async () => {
    await k.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  void it('scale deploy/web --replicas=3 goes through the scale subresource', async () => {
    assert.match(await k.kubectlOk('scale', 'deploy/web', '--replicas=3'), /deployment.apps\/web scaled/);
    assert.equal(asRecord(store.get(deployments, 'default', 'web')['spec'])['replicas'], 3);
    const scale = JSON.parse(await k.kubectlOk('get', '--raw', '/apis/apps/v1/namespaces/default/deployments/web/scale')) as Record<
      string,
      unknown
    >;
    assert.equal(scale['kind'], 'Scale');
    assert.equal(scale['apiVersion'], 'autoscaling/v1');
    assert.deepEqual(scale['spec'], { replicas: 3 });
    assert.equal(asRecord(scale['status'])['selector'], 'app=web');
    // --current-replicas is a precondition kubectl checks against the Scale.
    const wrong = await k.kubectl('scale', 'deploy/web', '--current-replicas=1', '--replicas=2');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Expected replicas to be 1, was 3/);
  });

  void it('rollout restart patches the template annotation; rollout status waits for the rollout', async () => {
    const before = store.get(deployments, 'default', 'web').metadata.generation ?? 0;
    assert.match(await k.kubectlOk('rollout', 'restart', 'deploy/web'), /deployment.apps\/web restarted/);
    const d = store.get(deployments, 'default', 'web');
    const annotations = asRecord(asRecord(asRecord(d['spec'])['template'])['metadata'])['annotations'];
    assert.match(String(asRecord(annotations)['kubectl.kubernetes.io/restartedAt']), /^\d{4}-\d\d-\d\dT/);
    assert.ok((d.metadata.generation ?? 0) > before);
    const status = k.spawn('rollout', 'status', 'deploy/web', '--timeout=20s');
    await eventually(() => assert.match(status.output(), /Waiting for deployment spec update to be observed/), 15_000);
    markRolledOut();
    assert.equal(await status.exited, 0, status.output());
    assert.match(status.output(), /deployment "web" successfully rolled out/);
  });

  void it('logs POD, --tail, -c, deploy/NAME and the errors kubectl shows', async () => {
    assert.equal(await k.kubectlOk('logs', 'web-1'), 'one\ntwo\nthree\n');
    assert.equal(await k.kubectlOk('logs', 'web-1', '--tail', '2'), 'two\nthree\n');
    assert.equal(await k.kubectlOk('logs', 'deploy/web', '--tail=1'), 'three\n');
    assert.equal(await k.kubectlOk('logs', 'two', '-c', 'b'), 'from b\n');
    const noContainer = await k.kubectl('logs', 'two', '--all-containers=false', '--default-container=false');
    assert.notEqual(noContainer.code, 0);
    const waiting = await k.kubectl('logs', 'two', '-c', 'a');
    assert.notEqual(waiting.code, 0);
    assert.match(waiting.stderr, /container "a" in pod "two" is waiting to start/);
  });

  void it('logs -f streams new output and ends when the pod goes', async () => {
    const follow = k.spawn('logs', '-f', 'web-1', '--tail=1');
    await eventually(() => assert.equal(follow.output(), 'three\n'), 15_000);
    appendFileSync(join(logDir, 'default', 'web-1', 'c.log'), 'four\n');
    await eventually(() => assert.equal(follow.output(), 'three\nfour\n'), 15_000);
    // The kubelet rotated the file (copy and truncate): the follower goes on from the start of the new content.
    truncateSync(join(logDir, 'default', 'web-1', 'c.log'), 0);
    appendFileSync(join(logDir, 'default', 'web-1', 'c.log'), 'five\n');
    await eventually(() => assert.equal(follow.output(), 'three\nfour\nfive\n'), 15_000);
    store.delete(pods, 'default', 'web-1', { gracePeriodSeconds: 0 });
    assert.equal(await follow.exited, 0, follow.output());
  });
});
