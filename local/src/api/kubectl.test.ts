import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture, type KubectlResult } from '../../testing/kubectl.ts';
import { ObjectStore } from '../store/object-store.ts';

/** End-to-end against the real kubectl (v1.32 on PATH): the point of this server is that kubectl works with it. */

const store = new ObjectStore();
const pods = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
let fx: KubectlFixture;
let dir = '';

function seedPod(name: string, nodeName: string, podIP: string): void {
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'i' }] },
  });
  store.patch(pods, 'default', name, { status: { phase: 'Running', podIP } }, { patchType: 'merge', subresource: 'status' });
}

const kubectl = (...args: string[]): Promise<KubectlResult> => fx.kubectl(...args);
const kubectlOk = (...args: string[]): Promise<string> => fx.kubectlOk(...args);
const spawnKubectl = (...args: string[]): ReturnType<KubectlFixture['spawn']> => fx.spawn(...args);

const POD_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: from-yaml
  labels: {app: demo}
spec:
  nodeName: node-2
  terminationGracePeriodSeconds: 15
  containers:
  - name: c
    image: busybox
`;

void describe('kubectl against the API server', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    fx = await startKubectlFixture(store);
    assert.match(fx.api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    dir = fx.dir;
    writeFileSync(join(dir, 'pod.yaml'), POD_YAML);
    seedPod('web-1', 'node-1', '10.1.0.11');
    seedPod('web-2', 'node-2', '10.1.1.12');
    store.create({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'allow-web', namespace: 'kube-system' },
      spec: {},
    });
  });

  after(async () => {
    await fx.close();
  });

  void it('get pods -A -o wide shows the seeded pods with IP and NODE', async () => {
    const out = await kubectlOk('get', 'pods', '-A', '-o', 'wide');
    const [header, ...rows] = out.trim().split('\n');
    assert.match(header ?? '', /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE$/);
    assert.ok(
      rows.some((r) => /^default\s+web-1\s+0\/1\s+Running\s+0\s+\S+\s+10\.1\.0\.11\s+node-1$/.test(r)),
      out,
    );
    assert.ok(
      rows.some((r) => /web-2\s.*10\.1\.1\.12\s+node-2$/.test(r)),
      out,
    );
    const narrow = await kubectlOk('get', 'pods');
    assert.doesNotMatch(narrow, /NODE/);
  });

  void it('api-resources lists built-in and mesh kinds', async () => {
    const out = await kubectlOk('api-resources');
    assert.match(out, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    assert.match(out, /^authorizationpolicies\s+ap\s+security\.istio\.io\/v1\s+true\s+AuthorizationPolicy$/m);
    assert.match(out, /^gatewayclasses\s+gc\s+gateway\.networking\.k8s\.io\/v1\s+false\s+GatewayClass$/m);
  });

  void it('get authorizationpolicies -A', async () => {
    const out = await kubectlOk('get', 'authorizationpolicies', '-A');
    assert.match(out, /^kube-system\s+allow-web\s+\S+$/m);
  });

  void it('create -f, replace -f and label', async () => {
    assert.match(await kubectlOk('create', '-f', join(dir, 'pod.yaml')), /pod\/from-yaml created/);
    const created = store.get(pods, 'default', 'from-yaml');
    assert.equal(created.metadata.labels?.['app'], 'demo');
    writeFileSync(join(dir, 'pod.yaml'), POD_YAML.replace('app: demo', 'app: demo2'));
    assert.match(await kubectlOk('replace', '-f', join(dir, 'pod.yaml')), /pod\/from-yaml replaced/);
    assert.equal(store.get(pods, 'default', 'from-yaml').metadata.labels?.['app'], 'demo2');
    assert.match(await kubectlOk('label', 'pod', 'from-yaml', 'tier=web'), /pod\/from-yaml labeled/);
    assert.deepEqual(store.get(pods, 'default', 'from-yaml').metadata.labels, { app: 'demo2', tier: 'web' });
    const dup = await kubectl('create', '-f', join(dir, 'pod.yaml'));
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /AlreadyExists.*pods "from-yaml" already exists/);
  });

  void it('get pods -w prints a change made while it runs', async () => {
    const w = spawnKubectl('get', 'pods', '-w');
    await eventually(() => assert.match(w.output(), /web-1/), 15_000);
    seedPod('late', 'node-1', '10.1.0.99');
    await eventually(() => assert.match(w.output(), /^late\s+0\/1\s+(Pending|Running)/m), 15_000);
    assert.ok(w.child.pid !== undefined);
    process.kill(w.child.pid, 'SIGTERM');
    await w.exited;
  });

  void it('delete pod is graceful until the node confirms with grace 0', async () => {
    seedPod('doomed', 'node-1', '10.1.0.50');
    const del = spawnKubectl('delete', 'pod', 'doomed');
    const marked = await eventually(() => {
      const p = store.get(pods, 'default', 'doomed');
      assert.ok(p.metadata.deletionTimestamp !== undefined);
      return p;
    }, 15_000);
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 30);
    const status = await kubectlOk('get', 'pod', 'doomed');
    assert.match(status, /doomed\s+0\/1\s+Terminating/);
    // What the node runtime sends once the containers have stopped.
    store.delete(pods, 'default', 'doomed', { gracePeriodSeconds: 0 });
    assert.equal(await del.exited, 0, del.output());
    assert.match(del.output(), /pod "doomed" deleted/);
    assert.equal(store.find(pods, 'default', 'doomed'), undefined);
  });

  void it('is refused without the token', async () => {
    const noToken = join(dir, 'kubeconfig-bad');
    writeFileSync(
      noToken,
      JSON.stringify({
        ...(JSON.parse(readFileSync(join(dir, 'kubeconfig'), 'utf8')) as object),
        users: [{ name: 'local', user: { token: 'wrong' } }],
      }),
    );
    const r = await kubectl('--kubeconfig', noToken, 'get', 'pods');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unauthorized|provide credentials/);
  });
});
