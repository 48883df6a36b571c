import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asRecord } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { silentLogger } from '@ambit/core';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../testing/kubectl.ts';
import { startPodStatusStub } from '../../testing/pod-status-stub.ts';
import type { Controller } from '../cluster/controller.ts';
import { startDaemonSetController } from '../cluster/daemonset-controller.ts';
import { EventRecorder } from '../cluster/events.ts';
import { storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';

/**
 * kubectl exactly as a user types it against the API server (real kubectl, real HTTPS server): apply (client- and
 * server-side, with a field-manager conflict), explain, scale, rollout restart/status of Deployments and DaemonSets,
 * logs (POD, -c, --tail, -f, deploy/NAME, ds/NAME) and get events. CRD-specific apply/explain are in
 * custom-resources.test.ts, event columns and describe in cluster/events.test.ts.
 */

const store = new ObjectStore();
const view = storeView(store);
const deployments = store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' });
const pods = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
const configMaps = store.typeOf({ apiVersion: 'v1', kind: 'ConfigMap' });
let k: KubectlFixture;
let logDir: string;
let manifests: string;
let daemonSets: Controller;
let events: EventRecorder;
let stopStub: () => void;

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

void describe('kubectl as typed', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    seedDeployment();
    for (const name of ['node-1', 'node-2']) store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
    events = new EventRecorder({ view, log: silentLogger() });
    daemonSets = startDaemonSetController(view, silentLogger(), events);
    stopStub = startPodStatusStub(view, 'kube-system');
    manifests = mkdtempSync(join(tmpdir(), 'ambit-manifests-'));
    logDir = mkdtempSync(join(tmpdir(), 'ambit-podlogs-'));
    k = await startKubectlFixture(store, { podLogDir: logDir });
    mkdirSync(join(logDir, 'default', 'web-1'), { recursive: true });
    mkdirSync(join(logDir, 'default', 'two'), { recursive: true });
    writeFileSync(join(logDir, 'default', 'web-1', 'c.log'), 'one\ntwo\nthree\n');
    writeFileSync(join(logDir, 'default', 'two', 'b.log'), 'from b\n');
  });
  after(async () => {
    await k.close();
    stopStub();
    await daemonSets.stop();
    events.close();
    rmSync(logDir, { recursive: true, force: true });
    rmSync(manifests, { recursive: true, force: true });
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

  void it('apply -f creates, then configures; apply --server-side then takes over its fields', async () => {
    const file = join(manifests, 'web-config.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: fast\n');
    assert.equal(await k.kubectlOk('apply', '-f', file), 'configmap/web-config created\n');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: safe\n');
    assert.equal(await k.kubectlOk('apply', '-f', file), 'configmap/web-config configured\n');
    const cm = store.get(configMaps, 'default', 'web-config');
    assert.deepEqual(cm['data'], { mode: 'safe' });
    const managers = (cm.metadata['managedFields'] as Array<Record<string, unknown>>).map((e) => [e['manager'], e['operation']]);
    assert.deepEqual(managers, [['kubectl-client-side-apply', 'Update']]);
    // Switching to server-side apply: kubectl applies, moves the client-side applier's fields to its own manager with
    // a JSON patch of managedFields, and keeps the last-applied annotation current under "kubectl-last-applied".
    assert.equal(await k.kubectlOk('apply', '--server-side', '-f', file), 'configmap/web-config serverside-applied\n');
    const migrated = store.get(configMaps, 'default', 'web-config').metadata['managedFields'] as Array<Record<string, unknown>>;
    const owned = Object.fromEntries(migrated.map((e) => [`${String(e['manager'])}/${String(e['operation'])}`, e['fieldsV1']]));
    assert.deepEqual(Object.keys(owned).sort(), ['kubectl-last-applied/Apply', 'kubectl/Apply']);
    assert.deepEqual(asRecord(owned['kubectl/Apply'])['f:data'], { 'f:mode': {} });
    assert.deepEqual(owned['kubectl-last-applied/Apply'], {
      'f:metadata': { 'f:annotations': { 'f:kubectl.kubernetes.io/last-applied-configuration': {} } },
    });
  });

  void it('apply --server-side creates and re-applies; another manager conflicts until --force-conflicts', async () => {
    const file = join(manifests, 'mesh-config.yaml');
    const write = (data: Record<string, string>): void =>
      writeFileSync(
        file,
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh-config\n  labels:\n    app: mesh\ndata:\n${Object.entries(data)
          .map(([key, v]) => `  ${key}: ${v}\n`)
          .join('')}`,
      );
    write({ color: 'blue', size: 'large' });
    assert.equal(await k.kubectlOk('apply', '--server-side', '-f', file), 'configmap/mesh-config serverside-applied\n');
    assert.equal(await k.kubectlOk('apply', '--server-side', '-f', file), 'configmap/mesh-config serverside-applied\n');
    const managed = JSON.parse(await k.kubectlOk('get', 'cm', 'mesh-config', '-o', 'json', '--show-managed-fields')) as Record<
      string,
      unknown
    >;
    const entries = asRecord(managed['metadata'])['managedFields'] as Array<Record<string, unknown>>;
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.['manager'], 'kubectl');
    assert.equal(entries[0]?.['operation'], 'Apply');
    assert.deepEqual(entries[0]?.['fieldsV1'], {
      'f:data': { 'f:color': {}, 'f:size': {} },
      'f:metadata': { 'f:labels': { 'f:app': {} } },
    });
    // A field this manager no longer applies is removed.
    write({ color: 'blue' });
    await k.kubectlOk('apply', '--server-side', '-f', file);
    assert.deepEqual(store.get(configMaps, 'default', 'mesh-config')['data'], { color: 'blue' });

    write({ color: 'red' });
    const conflict = await k.kubectl('apply', '--server-side', '--field-manager=ops', '-f', file);
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.color/);
    assert.match(conflict.stderr, /--force-conflicts/);
    assert.equal(asRecord(store.get(configMaps, 'default', 'mesh-config')['data'])['color'], 'blue');

    assert.equal(
      await k.kubectlOk('apply', '--server-side', '--field-manager=ops', '--force-conflicts', '-f', file),
      'configmap/mesh-config serverside-applied\n',
    );
    const cm = store.get(configMaps, 'default', 'mesh-config');
    assert.equal(asRecord(cm['data'])['color'], 'red');
    const owners = Object.fromEntries(
      (cm.metadata['managedFields'] as Array<Record<string, unknown>>).map((e) => [e['manager'], e['fieldsV1']]),
    );
    assert.deepEqual(owners, {
      kubectl: { 'f:metadata': { 'f:labels': { 'f:app': {} } } },
      ops: { 'f:data': { 'f:color': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
    });
  });

  void it('explain daemonset reads the built-in schema', async () => {
    const out = await k.kubectlOk('explain', 'daemonset.spec.updateStrategy.rollingUpdate');
    assert.match(out, /maxSurge/);
    assert.match(out, /maxUnavailable/);
  });

  void it('a DaemonSet applied server-side runs on every node; rollout restart + rollout status ds; logs ds/NAME', async () => {
    const file = join(manifests, 'agent.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: apps/v1',
        'kind: DaemonSet',
        'metadata:',
        '  name: agent',
        '  namespace: kube-system',
        'spec:',
        '  selector:',
        '    matchLabels: {app: agent}',
        '  updateStrategy:',
        '    type: RollingUpdate',
        '    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}',
        '  template:',
        '    metadata:',
        '      labels: {app: agent}',
        '    spec:',
        '      containers:',
        '      - name: agent',
        '        image: ghcr.io/ambit-dev/ambit:0.1.0',
        '',
      ].join('\n'),
    );
    assert.equal(await k.kubectlOk('apply', '--server-side', '-f', file), 'daemonset.apps/agent serverside-applied\n');
    assert.match(
      await k.kubectlOk('rollout', 'status', 'ds/agent', '-n', 'kube-system', '--timeout=20s'),
      /daemon set "agent" successfully rolled out/,
    );
    const table = await k.kubectlOk('get', 'ds', '-n', 'kube-system');
    const [header, row] = table.trim().split('\n');
    assert.match(header ?? '', /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE$/);
    assert.match(row ?? '', /^agent\s+2\s+2\s+2\s+2\s+2\s+<none>\s+\S+$/);

    const before = new Set(store.list(pods, { namespace: 'kube-system' }).items.map((p) => p.metadata.name));
    assert.equal(before.size, 2);
    assert.equal(await k.kubectlOk('rollout', 'restart', 'ds/agent', '-n', 'kube-system'), 'daemonset.apps/agent restarted\n');
    const status = await k.kubectl('rollout', 'status', 'ds/agent', '-n', 'kube-system', '--timeout=30s');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /daemon set "agent" successfully rolled out/);
    const after = store.list(pods, { namespace: 'kube-system' }).items;
    assert.equal(after.length, 2);
    assert.ok(after.every((p) => !before.has(p.metadata.name)));
    assert.deepEqual(after.map((p) => asRecord(p['spec'])['nodeName']).sort(), ['node-1', 'node-2']);
    // The DaemonSet's ControllerRevisions are its rollout history.
    assert.match(
      await k.kubectlOk('rollout', 'history', 'ds/agent', '-n', 'kube-system'),
      /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/,
    );

    // kubectl picks the DaemonSet's first pod by its selector.
    for (const p of after) {
      mkdirSync(join(logDir, 'kube-system', p.metadata.name ?? ''), { recursive: true });
      writeFileSync(
        join(logDir, 'kube-system', p.metadata.name ?? '', 'agent.log'),
        `hello from ${String(asRecord(p['spec'])['nodeName'])}\n`,
      );
    }
    assert.match(await k.kubectlOk('logs', 'ds/agent', '-n', 'kube-system'), /^hello from node-[12]\n$/);

    const eventsOut = await k.kubectlOk('get', 'events', '-n', 'kube-system');
    assert.match(eventsOut, /Normal\s+SuccessfulCreate\s+daemonset\/agent\s+Created pod: agent-/);
    assert.match(eventsOut, /Normal\s+SuccessfulDelete\s+daemonset\/agent\s+Deleted pod: agent-/);
  });
});
