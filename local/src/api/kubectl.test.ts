import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { ObjectStore } from '../store/object-store.ts';
import { createApiServer, type ApiServer } from './server.ts';

/** End-to-end against the real kubectl (v1.32 on PATH): the point of this server is that kubectl works with it. */

const TOKEN = 'kubectl-test-token';
const dir = mkdtempSync(join(tmpdir(), 'ambit-kubectl-'));
const kubeconfig = join(dir, 'kubeconfig');
const store = new ObjectStore();
const pods = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
const children = new Set<ChildProcess>();
let api: ApiServer;

function hasKubectl(): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, 'kubectl'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function seedPod(name: string, nodeName: string, podIP: string): void {
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'i' }] },
  });
  store.patch(pods, 'default', name, { status: { phase: 'Running', podIP } }, { patchType: 'merge', subresource: 'status' });
}

const env = { ...process.env, KUBECONFIG: kubeconfig };
const base = ['--cache-dir', join(dir, 'cache'), '--request-timeout', '20s'];

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', [...base, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      children.delete(child);
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
    children.add(child);
  });
}

async function kubectlOk(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Starts a long-running kubectl; `output()` is what it printed so far. */
function spawnKubectl(...args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('kubectl', [...base, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => out, exited };
}

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

void describe(
  'kubectl against the API server',
  { skip: hasKubectl() || process.env['CI'] === 'true' ? false : 'kubectl is not on PATH (CI never skips this)' },
  () => {
    before(async () => {
      api = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, log: silentLogger() });
      assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = Buffer.from(api.caCertPem ?? '').toString('base64');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'local', cluster: { server: api.url, 'certificate-authority-data': ca } }],
          users: [{ name: 'local', user: { token: TOKEN } }],
          contexts: [{ name: 'local', context: { cluster: 'local', user: 'local', namespace: 'default' } }],
          'current-context': 'local',
        }),
        { mode: 0o600 },
      );
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
      for (const c of children) c.kill('SIGKILL');
      await api.close();
      rmSync(dir, { recursive: true, force: true });
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
          ...(JSON.parse(readFileSync(kubeconfig, 'utf8')) as object),
          users: [{ name: 'local', user: { token: 'wrong' } }],
        }),
      );
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        const child = execFile(
          'kubectl',
          [...base, '--kubeconfig', noToken, 'get', 'pods'],
          { env, timeout: 30_000 },
          (err, _o, stderr) => {
            children.delete(child);
            resolve({ code: err === null ? 0 : 1, stderr });
          },
        );
        children.add(child);
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Unauthorized|provide credentials/);
    });
  },
);
