import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { REPO, ambitctl, ambitctlOk, downAndCheckClean, fixtureCopy, pods, run } from './helpers/ambitctl.ts';
import { clusterPaths } from '@ambit/local';
import { componentPid, type MeshComponent } from './helpers/mesh-components.ts';

const CLUSTER = 'it-main';
const NEEDS = {
  root: true,
  executables: ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/sbin/nft', '/usr/bin/curl', '/usr/bin/kubectl'],
};

function inCidr(ip: string, node: string): boolean {
  return ip.startsWith(`10.244.${node.replace('node', '')}.`);
}

describe('local cluster: 2 nodes × 2 pods', { concurrency: false }, () => {
  let dir = '';
  let ready = false;

  before(async () => {
    dir = fixtureCopy('two-by-two');
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 90_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /server2\s+Running\s+yes\s+node2\s+10\.244\.2\.\d+/);
    ready = true;
  });

  after(async () => {
    await downAndCheckClean(CLUSTER, dir);
  });

  test('pods get IPs from their node CIDR through host-local', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const list = await pods(CLUSTER, 'it');
    assert.equal(list.length, 4);
    for (const p of list) {
      assert.equal(p.phase, 'Running');
      assert.ok(inCidr(p.ip, p.node), `${p.name} ${p.ip} is in ${p.node}'s CIDR`);
    }
    const nodes = JSON.parse(await ambitctlOk(CLUSTER, ['local', 'get', 'nodes', '-o', 'json'])) as {
      items: Array<{ name: string; ip: string }>;
    };
    assert.deepEqual(
      nodes.items.map((n) => n.name),
      ['node1', 'node2'],
    );
  });

  test('curl from a pod on node1 reaches an HTTP server pod on node2 by pod IP', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const server2 = (await pods(CLUSTER, 'it')).find((p) => p.name === 'server2');
    assert.ok(server2);
    const body = await eventually(
      () =>
        ambitctlOk(CLUSTER, ['local', 'exec', '-n', 'it', 'client1', '--', 'curl', '-sS', '--max-time', '5', `http://${server2.ip}:8080/`]),
      10_000,
    );
    assert.equal(body, 'hello from server2\n');
  });

  test('a Service name resolves in pods and its ClusterIP reaches both endpoints', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const seen = new Set<string>();
    await eventually(async () => {
      const body = await ambitctlOk(CLUSTER, [
        'local',
        'exec',
        '-n',
        'it',
        'client2',
        '--',
        'curl',
        '-sS',
        '--max-time',
        '5',
        'http://server/',
      ]);
      seen.add(body.trim());
      assert.equal(seen.size, 2, `seen ${[...seen].join(', ')}`);
    }, 20_000);
  });

  test('local exec propagates the exit code, stdin and stdout', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const exit = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'it', 'client1', '--', 'sh', '-c', 'exit 7']);
    assert.equal(exit.code, 7);
    const cat = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'it', 'client1', '--', 'cat'], { input: 'piped through stdin\n' });
    assert.equal(cat.code, 0);
    assert.equal(cat.stdout, 'piped through stdin\n');
    const missing = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'it', 'nope', '--', 'true']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pods "nope" not found/);
  });

  test('node-exec runs in the node namespace', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const out = await ambitctlOk(CLUSTER, ['local', 'node-exec', 'node2', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.match(out, /inet 172\.28\.0\.12\/24/);
  });

  test('the API answers in-cluster: kubernetes.default.svc from a pod, 10.96.0.1 from a node, with its certificate and a token', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    // The kubeconfig carries what a pod's service account volume would: the API's CA and a bearer token.
    const kc = readFileSync((await ambitctlOk(CLUSTER, ['local', 'kubeconfig'])).trim(), 'utf8');
    const ca = join(dir, '..', `${CLUSTER}-api-ca.crt`);
    writeFileSync(ca, Buffer.from(/certificate-authority-data: (\S+)/.exec(kc)?.[1] ?? '', 'base64'));
    const token = /token: (\S+)/.exec(kc)?.[1] ?? '';
    assert.notEqual(token, '');
    const curl = ['curl', '-sS', '--max-time', '5', '--cacert', ca, '-H', `Authorization: Bearer ${token}`];
    // Both nodes' forwarders are endpoints: every attempt must verify the certificate by name or IP, wherever it lands.
    for (let i = 0; i < 4; i++) {
      const fromPod = await ambitctlOk(CLUSTER, [
        'local',
        'exec',
        '-n',
        'it',
        'client1',
        '--',
        ...curl,
        'https://kubernetes.default.svc/version',
      ]);
      assert.match(fromPod, /"gitVersion":"v1\.32\.0-ambit"/);
      const fromNode = await ambitctlOk(CLUSTER, ['local', 'node-exec', 'node2', '--', ...curl, 'https://10.96.0.1:443/version']);
      assert.match(fromNode, /"gitVersion":"v1\.32\.0-ambit"/);
    }
    const kubectl = (...args: string[]) => run(['kubectl', '--kubeconfig', join(dir, '..', `${CLUSTER}-kc`), ...args]);
    writeFileSync(join(dir, '..', `${CLUSTER}-kc`), kc);
    const svc = await kubectl('get', 'svc', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP} {.spec.ports[0].port}');
    assert.equal(svc.stdout, '10.96.0.1 443', svc.stderr);
    const slice = await kubectl(
      'get',
      'endpointslice',
      'kubernetes',
      '-n',
      'default',
      '-o',
      'jsonpath={.endpoints[*].addresses[0]} {.ports[0].port}',
    );
    assert.equal(slice.stdout, '172.28.0.11 172.28.0.12 6443', slice.stderr);
    // Every pod is told where the API is, in any namespace (the kubelet's service environment).
    const file = join(dir, '31-env.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: env, namespace: it}\nspec:\n  containers: [{name: c, command: [sh, -c, "echo api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; sleep infinity"]}]\n',
    );
    await eventually(
      async () => assert.match(await ambitctlOk(CLUSTER, ['local', 'logs', '-n', 'it', 'env']), /api=10\.96\.0\.1:443/),
      15_000,
    );
    unlinkSync(file);
    // A deleted Service is put back, as kube-apiserver's reconciler does.
    const del = await kubectl('delete', 'svc', 'kubernetes', '-n', 'default');
    assert.equal(del.code, 0, del.stderr);
    await eventually(
      async () =>
        assert.equal((await kubectl('get', 'svc', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}')).stdout, '10.96.0.1'),
      5_000,
    );
  });

  test('apply and delete add and remove a pod live; a bad file applies nothing', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(dir, '..', `${CLUSTER}-extra.yaml`);
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: it}\nspec:\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    assert.match(await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]), /pod\/extra created/);
    await eventually(async () => assert.equal((await pods(CLUSTER, 'it')).find((p) => p.name === 'extra')?.phase, 'Running'), 15_000);
    assert.match(await ambitctlOk(CLUSTER, ['local', 'delete', '-f', file]), /pod\/extra deleted/);
    await eventually(
      async () =>
        assert.equal(
          (await pods(CLUSTER, 'it')).some((p) => p.name === 'extra'),
          false,
        ),
      15_000,
    );
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: half, namespace: it}\nspec:\n  containers: [{name: c, command: [sleep, infinity]}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: broken, namespace: it}\nspec:\n  containers: [{name: c, command: sleep}]\n',
    );
    const bad = await ambitctl(CLUSTER, ['local', 'apply', '-f', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /it-main-extra\.yaml:2:spec\.containers\[0\]\.command: must be a list/);
    assert.equal(
      (await pods(CLUSTER, 'it')).some((p) => p.name === 'half'),
      false,
      'nothing of the batch was created',
    );
    unlinkSync(file);
  });

  test('a file added to or removed from the watched directory takes effect', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(dir, '20-watched.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: watched, namespace: it}\nspec:\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    await eventually(async () => assert.equal((await pods(CLUSTER, 'it')).find((p) => p.name === 'watched')?.phase, 'Running'), 15_000);
    unlinkSync(file);
    await eventually(
      async () =>
        assert.equal(
          (await pods(CLUSTER, 'it')).some((p) => p.name === 'watched'),
          false,
        ),
      15_000,
    );
  });

  test('logs show a pod container output', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(dir, '30-talker.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: talker, namespace: it}\nspec:\n  containers: [{name: c, command: [sh, -c, "echo talking on $HOSTNAME; sleep infinity"]}]\n',
    );
    await eventually(
      async () => assert.match(await ambitctlOk(CLUSTER, ['local', 'logs', '-n', 'it', 'talker']), /talking on talker/),
      15_000,
    );
    unlinkSync(file);
  });

  test('kubectl lists, creates, deletes and watches pods through the generated kubeconfig', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const kubeconfig = (await ambitctlOk(CLUSTER, ['local', 'kubeconfig'])).trim();
    const kubectl = (...args: string[]) => run(['kubectl', '--kubeconfig', kubeconfig, ...args]);
    const wide = await kubectl('get', 'pods', '-A', '-o', 'wide');
    assert.equal(wide.code, 0, wide.stderr);
    assert.match(wide.stdout, /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    assert.match(wide.stdout, /it\s+server2\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.2\.\d+\s+node2/);

    // A watch started now must see the pod kubectl creates next.
    const watcher = spawn('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods', '-n', 'it', '-w', '--no-headers'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let watched = '';
    watcher.stdout.setEncoding('utf8').on('data', (d: string) => (watched += d));
    t.after(() => watcher.kill());
    await eventually(() => assert.match(watched, /server1/), 10_000);

    const manifest = join(dir, '..', `${CLUSTER}-kubectl.yaml`);
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: via-kubectl, namespace: it}\nspec:\n  containers: [{name: c, image: busybox, command: [sh, -c, "echo one; echo two; sleep infinity"]}]\n',
    );
    // No --validate=false: the API serves OpenAPI v3 of built-in kinds.
    const created = await kubectl('create', '-f', manifest);
    assert.equal(created.code, 0, created.stderr);
    await eventually(async () => assert.equal((await pods(CLUSTER, 'it')).find((p) => p.name === 'via-kubectl')?.phase, 'Running'), 15_000);
    await eventually(() => assert.match(watched, /via-kubectl\s+1\/1\s+Running/), 10_000);
    // pods/log from the kubelet's log file; Events as the scheduler and kubelet write them.
    await eventually(async () => assert.equal((await kubectl('logs', '-n', 'it', 'via-kubectl', '--tail=1')).stdout, 'two\n'), 10_000);
    const described = await kubectl('describe', 'pod', '-n', 'it', 'via-kubectl');
    assert.equal(described.code, 0, described.stderr);
    for (const line of [
      /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned it\/via-kubectl to node\d/,
      /Normal\s+Pulled\s+\S+\s+kubelet\s+Container image "busybox" already present on machine/,
      /Normal\s+Created\s+\S+\s+kubelet\s+Created container c/,
      /Normal\s+Started\s+\S+\s+kubelet\s+Started container c/,
    ]) {
      assert.match(described.stdout, line);
    }
    const deleted = await kubectl('delete', 'pod', '-n', 'it', 'via-kubectl', '--wait=true');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(
      (await pods(CLUSTER, 'it')).some((p) => p.name === 'via-kubectl'),
      false,
    );
    const events = await kubectl('get', 'events', '-n', 'it', '--field-selector', 'involvedObject.name=via-kubectl');
    assert.match(events.stdout, /Normal\s+Killing\s+pod\/via-kubectl\s+Stopping container c/);
    unlinkSync(manifest);
  });

  test("Ambit's kinds are served from the start: kubectl applies a LocalRateLimit, refuses a bad one naming the field", async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const kubeconfig = (await ambitctlOk(CLUSTER, ['local', 'kubeconfig'])).trim();
    const kubectl = (...args: string[]) => run(['kubectl', '--kubeconfig', kubeconfig, ...args]);
    const crds = await kubectl('get', 'crd', '-o', 'name');
    assert.match(crds.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/localratelimits\.ambit\.dev/);
    assert.match(crds.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/httpfaults\.ambit\.dev/);
    // No --validate=false: the API serves these kinds' OpenAPI, so kubectl leaves field validation to the server.
    const good = await kubectl('apply', '-f', join(REPO, 'examples', 'ambit-kinds', 'local-rate-limit.yaml'));
    assert.equal(good.code, 0, good.stderr);
    const manifest = join(dir, '..', `${CLUSTER}-bad-lrl.yaml`);
    writeFileSync(
      manifest,
      'apiVersion: ambit.dev/v1alpha1\nkind: LocalRateLimit\nmetadata: {name: bad, namespace: it}\nspec:\n  targetRef: {kind: Service, name: reviews}\n  total: {requestsPerSecond: 0}\n',
    );
    const bad = await kubectl('apply', '-f', manifest);
    unlinkSync(manifest);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /spec\.total\.requestsPerSecond: Invalid value: 0: spec\.total\.requestsPerSecond in body should be greater than or equal to 1/,
    );
    const listed = await kubectl('get', 'lrl', '-A');
    assert.match(listed.stdout, /^default\s+reviews\s+reviews\s+10\s+/m);
    assert.doesNotMatch(listed.stdout, /\bbad\b/);
  });

  test("the controller, and every node agent and ztunnel, run on the project's Node 24", async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const paths = clusterPaths(CLUSTER);
    const components: Array<[MeshComponent, string | undefined]> = [['controller', undefined]];
    for (const node of ['node1', 'node2']) components.push(['ztunnel', node], ['node-agent', node]);
    for (const [component, node] of components) {
      const pid = componentPid(paths, component, node);
      // The running binary itself, as `node --version` inside the process's container would report it (through
      // /proc: its path is the container's view, under the image's /opt/ambit).
      const exe = readlinkSync(`/proc/${pid}/exe`);
      const version = await run([`/proc/${pid}/exe`, '--version']);
      assert.match(version.stdout, /^v24\./, `${component} ${node ?? ''} (pid ${pid}): ${exe} is ${version.stdout.trim()}`);
    }
  });
});
