import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { asRecord, isRecord, silentLogger, type Logger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { storeView } from '../runner/store-adapter.ts';
import { listNetnsWithPrefix } from '../net/netns.ts';
import { createTopology, destroyTopology, type Topology } from '../net/topology.ts';
import { ApiError } from '../store/api-error.ts';
import { ObjectStore } from '../store/object-store.ts';
import { assertNothingLeft, needsNetwork, tempDir, testPrefix } from '../../testing/network.ts';
import { createTestTokenIssuer, testTokenClaims } from '../../testing/token-issuer.ts';
import { EventRecorder } from './events.ts';
import { createAdmission } from './admission.ts';
import { Kubelet } from './kubelet.ts';
import { startRootCaPublisher } from './root-ca-publisher.ts';
import { SERVICE_ACCOUNT_MOUNT_PATH } from './serviceaccount-admission.ts';
import type { StoreView } from './store-view.ts';

/**
 * The kubelet runs what the shipped manifests ask of a node: local images, volumes in each container's own mount
 * namespace, hostNetwork pods, and the user a securityContext names. Real namespaces and processes (root only).
 */

const TEST_CA = '-----BEGIN CERTIFICATE-----\nnot a real certificate\n-----END CERTIFICATE-----\n';

const TOOLS = ['/usr/bin/mount', '/usr/bin/setpriv', '/usr/bin/sleep', '/usr/bin/id'];

interface Fixture {
  readonly view: StoreView;
  readonly store: ObjectStore;
  readonly topo: { readonly topology: Topology; readonly stateDir: string; readonly log: Logger };
  readonly logDir: string;
  readonly workDir: string;
  readonly tokens: ReturnType<typeof createTestTokenIssuer>;
  /** Where the `example.com/files` image's files appear in its containers. */
  readonly imageHome: string;
}

async function startKubelet(t: TestContext, tag: string, tokenLifetimeSeconds?: number): Promise<Fixture> {
  // Not withTopology: its teardown would run before the kubelet's (after hooks run in registration order), and a pod
  // sandbox still being made would outlive the topology.
  const prefix = testPrefix(tag);
  const stateDir = await tempDir(t, tag);
  const log = silentLogger();
  const topo = { topology: await createTopology({ prefix, nodes: 1, stateDir, log }), stateDir, log };
  const node = topo.topology.nodes[0];
  assert.ok(node);
  // Admission as the cluster runs it with token-issuing kubelets: the ServiceAccount plugin adds kube-api-access.
  const bound: { view?: StoreView } = {};
  const admit = createAdmission(() => bound.view as StoreView, ['node1'], { serviceAccountTokens: true });
  const store = new ObjectStore({ admission: [{ admit }], namespaces: ['default'] });
  const view = storeView(store);
  bound.view = view;
  const publisher = startRootCaPublisher(view, TEST_CA, topo.log);
  const logDir = join(topo.stateDir, 'logs');
  const workDir = await tempDir(t, `${tag}w`);
  // An "image" whose entrypoint is a script in the work dir: it shows its argv and environment, then runs on.
  await writeFile(join(workDir, 'entry.sh'), '#!/bin/sh\necho "entry: $*"\necho "home: $AMBIT_HOME"\nexec "$@"\n', { mode: 0o755 });
  // An image with files, as the Ambit image is this checkout: kept under a directory only root may enter (as a clone
  // in root's home), seen by the container's non-root user at the image's own path.
  const imageHome = `/run/ambit-test-image-${prefix}`;
  const locked = join(workDir, 'locked');
  await mkdir(join(locked, 'image'), { recursive: true });
  await chmod(locked, 0o700);
  await writeFile(join(locked, 'image', 'entry.sh'), '#!/bin/sh\necho "pwd: $(pwd)"\ncat data.txt\nexec "$@"\n', { mode: 0o755 });
  await writeFile(join(locked, 'image', 'data.txt'), 'data from the image\n');
  t.after(() => rm(imageHome, { recursive: true, force: true }));
  const tokens = createTestTokenIssuer(tokenLifetimeSeconds === undefined ? {} : { lifetimeSeconds: tokenLifetimeSeconds });
  const events = new EventRecorder({ view, log: topo.log });
  const kubelet = new Kubelet(view, {
    topology: topo.topology,
    node,
    logDir,
    defaultWorkdir: workDir,
    log: topo.log,
    events,
    tokens,
    images: {
      'example.com/tools': { entrypoint: [join(workDir, 'entry.sh')], env: { AMBIT_HOME: '/opt/tools' } },
      'example.com/files': {
        entrypoint: [join(imageHome, 'entry.sh')],
        user: 10001,
        group: 10001,
        workingDir: imageHome,
        files: { hostDir: join(locked, 'image'), mountPath: imageHome },
      },
    },
  });
  t.after(async () => {
    await kubelet.shutdown(1000);
    await publisher.stop();
    events.close();
    await destroyTopology(topo.topology, log);
    await assertNothingLeft(prefix);
  });
  return { view, store, topo, logDir, workDir, tokens, imageHome };
}

function createPod(f: Fixture, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return f.view.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName: 'node1', restartPolicy: 'Never', terminationGracePeriodSeconds: 1, ...spec },
  });
}

function podLog(f: Fixture, pod: string, container = 'c'): string {
  const file = join(f.logDir, 'default', pod, `${container}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function status(f: Fixture, name: string): Record<string, unknown> {
  return asRecord(f.view.find('Pod', 'default', name)?.['status']);
}

test('images, $(VAR) args and every volume kind, each in the container’s own mount namespace', async (t) => {
  if (!needsNetwork(t, TOOLS)) return;
  const f = await startKubelet(t, 'kvol');
  f.view.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { greeting: 'hello' } });
  f.view.create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'sec', namespace: 'default' },
    data: { password: Buffer.from('s3cret').toString('base64') },
  });
  const nodeHost = join(f.topo.stateDir, 'nodes', 'node1', 'host');
  await mkdir(join(nodeHost, 'var/lib/creds/node1'), { recursive: true });
  await writeFile(join(nodeHost, 'var/lib/creds/node1/token'), 'node1-credential');
  // Mount points under the test's own directory: ones missing on the host are created there (see README).
  const m = join(f.workDir, 'mnt');
  const script = [
    'echo "args: $*"',
    'cd "$M"',
    'cat cfg/greeting; echo',
    'cat podinfo/labels; echo',
    'cat proj/password; echo',
    'echo "token: $(cat tokens/tok)"',
    'echo "node-cred: $(cat node/token)"',
    'echo data > scratch/x && echo "emptydir ok"',
    '(echo no > cfg/new) 2>/dev/null || echo "configmap read-only"',
    '(echo no > node/new) 2>/dev/null || echo "readOnly mount read-only"',
    'echo hi > state/marker && echo "hostpath ok"',
    'echo END',
    'exec sleep 300',
  ].join('\n');
  createPod(
    f,
    'vols',
    {
      containers: [
        {
          name: 'c',
          image: 'example.com/tools:1.2@sha256:0000',
          args: ['/usr/bin/sh', '-c', script, 'sh', '$(NODE)', '$$(NODE)', '$(UNKNOWN)'],
          env: [
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'M', value: m },
          ],
          volumeMounts: [
            { name: 'cfg', mountPath: `${m}/cfg` },
            { name: 'info', mountPath: `${m}/podinfo` },
            { name: 'proj', mountPath: `${m}/proj` },
            { name: 'tokens', mountPath: `${m}/tokens` },
            { name: 'scratch', mountPath: `${m}/scratch` },
            { name: 'state', mountPath: `${m}/state` },
            { name: 'creds', mountPath: `${m}/node`, subPathExpr: '$(NODE)', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        { name: 'proj', projected: { sources: [{ secret: { name: 'sec' } }] } },
        {
          name: 'tokens',
          projected: { sources: [{ serviceAccountToken: { path: 'tok', audience: 'ambit-ca', expirationSeconds: 3600 } }] },
        },
        { name: 'scratch', emptyDir: {} },
        { name: 'state', hostPath: { path: '/var/lib/test-state', type: 'DirectoryOrCreate' } },
        { name: 'creds', hostPath: { path: '/var/lib/creds', type: 'Directory' } },
      ],
    },
    { app: 'vols', tier: 'web' },
  );
  const out = await eventually(() => {
    const log = podLog(f, 'vols');
    assert.match(log, /^END$/m);
    return log;
  }, 15_000);
  // command absent: the image's entrypoint runs, with args expanded ($$ escapes, unknown references stay).
  assert.match(out, /^entry: \/usr\/bin\/sh -c [\s\S]* sh node1 \$\(NODE\) \$\(UNKNOWN\)$/m);
  assert.match(out, /^home: \/opt\/tools$/m);
  assert.match(out, /^args: node1 \$\(NODE\) \$\(UNKNOWN\)$/m);
  assert.match(out, /^hello$/m);
  assert.match(out, /^app="vols"\ntier="web"$/m);
  assert.match(out, /^s3cret$/m);
  const token = /^token: (\S+)$/m.exec(out)?.[1] ?? '';
  const claims = testTokenClaims(token);
  assert.deepEqual(claims['aud'], ['ambit-ca']);
  assert.equal(Number(claims['exp']) - Number(claims['iat']), 3600);
  const pod = f.view.find('Pod', 'default', 'vols');
  assert.deepEqual(asRecord(claims['kubernetes.io'])['pod'], { kind: 'Pod', name: 'vols', uid: pod?.metadata.uid });
  assert.match(out, /^node-cred: node1-credential$/m);
  assert.match(out, /^emptydir ok$/m);
  assert.match(out, /^hostpath ok$/m);
  assert.match(out, /^configmap read-only$/m);
  assert.match(out, /^readOnly mount read-only$/m);
  // Contract 1: the node's /var/lib/test-state is under the state dir; the host's own path was never created.
  assert.equal(await readFile(join(nodeHost, 'var/lib/test-state/marker'), 'utf8'), 'hi\n');
  assert.equal(existsSync('/var/lib/test-state'), false);
  // The host side sees the mount points as empty directories: every mount stayed in the container's namespace.
  assert.deepEqual(await readdir(join(m, 'cfg')), []);
  assert.equal(status(f, 'vols')['phase'], 'Running');
});

test('a missing hostPath Directory is FailedMount until it exists; runAsNonRoot and runAsUser', async (t) => {
  if (!needsNetwork(t, TOOLS)) return;
  const f = await startKubelet(t, 'kmnt');
  createPod(f, 'waits', {
    containers: [{ name: 'c', command: ['sleep', '300'], volumeMounts: [{ name: 'd', mountPath: '/mnt/d' }] }],
    volumes: [{ name: 'd', hostPath: { path: '/var/lib/missing', type: 'Directory' } }],
  });
  await eventually(() => {
    const ev = f.view.list('Event', 'default').find((e) => e['reason'] === 'FailedMount');
    assert.equal(
      ev?.['message'],
      'MountVolume.SetUp failed for volume "d" : hostPath type check failed: /var/lib/missing is not a directory',
    );
    assert.equal(ev?.['type'], 'Warning');
  }, 10_000);
  assert.equal(status(f, 'waits')['phase'], 'Pending');
  await mkdir(join(f.topo.stateDir, 'nodes/node1/host/var/lib/missing'), { recursive: true });
  await eventually(() => assert.equal(status(f, 'waits')['phase'], 'Running'), 15_000);

  createPod(f, 'nonroot', {
    securityContext: { runAsNonRoot: true },
    containers: [{ name: 'c', command: ['sleep', '300'], securityContext: { runAsUser: 0 } }],
  });
  await eventually(() => {
    const cs = (status(f, 'nonroot')['containerStatuses'] as unknown[] | undefined)?.find(isRecord);
    const uid = f.view.find('Pod', 'default', 'nonroot')?.metadata.uid ?? '';
    assert.deepEqual(asRecord(cs?.['state'])['waiting'], {
      reason: 'CreateContainerConfigError',
      message: `container's runAsUser breaks non-root policy (pod: "nonroot_default(${uid})", container: c)`,
    });
  }, 10_000);

  createPod(f, 'user', {
    securityContext: { runAsUser: 10001, runAsGroup: 10001, fsGroup: 2000 },
    containers: [
      {
        name: 'c',
        command: [
          '/usr/bin/sh',
          '-c',
          'id -u; id -G; (echo x > /etc/cannot) 2>/dev/null || echo denied; grep CapEff /proc/self/status; exec sleep 300',
        ],
      },
      {
        name: 'caps',
        command: ['/usr/bin/sh', '-c', 'grep CapBnd /proc/self/status; (touch /ro) 2>/dev/null || echo ro-root; exec sleep 300'],
        securityContext: { runAsUser: 0, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] }, readOnlyRootFilesystem: true },
      },
    ],
  });
  const out = await eventually(() => {
    const log = podLog(f, 'user');
    assert.match(log, /CapEff/);
    return log;
  }, 10_000);
  assert.match(out, /^10001\n10001 2000\ndenied\nCapEff:\s+0+$/m);
  // NET_ADMIN is capability 12: bit 0x1000 alone in the bounding set.
  await eventually(() => assert.match(podLog(f, 'user', 'caps'), /^CapBnd:\s+0+1000\nro-root$/m), 10_000);

  // The image's files at its own path, for its user, whatever hides their host directory (an emptyDir over /tmp).
  createPod(f, 'imagefiles', {
    containers: [
      {
        name: 'c',
        image: 'example.com/files:1.0',
        args: ['/usr/bin/sh', '-c', 'id -u; exec sleep 300'],
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      },
    ],
    volumes: [{ name: 'tmp', emptyDir: {} }],
  });
  await eventually(() => assert.equal(podLog(f, 'imagefiles'), `pwd: ${f.imageHome}\ndata from the image\n10001\n`), 10_000);
});

test('hostNetwork: the node’s namespace and IP, no CNI; ClusterFirstWithHostNet sees Service names', async (t) => {
  if (!needsNetwork(t, TOOLS)) return;
  const f = await startKubelet(t, 'khn');
  const node = f.topo.topology.nodes[0];
  assert.ok(node);
  f.view.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { clusterIP: '10.96.0.50', ports: [{ port: 80 }] },
  });
  const hostHosts = readFileSync('/etc/hosts', 'utf8');
  createPod(f, 'hostnet', {
    hostNetwork: true,
    dnsPolicy: 'ClusterFirstWithHostNet',
    containers: [
      { name: 'c', command: ['/usr/bin/sh', '-c', 'ip -4 -o addr show; getent hosts web.default.svc.cluster.local; exec sleep 300'] },
    ],
  });
  const out = await eventually(() => {
    const log = podLog(f, 'hostnet');
    assert.match(log, /10\.96\.0\.50/);
    return log;
  }, 15_000);
  assert.match(out, new RegExp(`inet ${node.ip.replaceAll('.', '\\.')}/`));
  await eventually(() => {
    assert.equal(status(f, 'hostnet')['podIP'], node.ip);
    assert.equal(status(f, 'hostnet')['phase'], 'Running');
  });
  assert.equal(readFileSync('/etc/hosts', 'utf8'), hostHosts, "the host's /etc/hosts is untouched");
  assert.deepEqual(await listNetnsWithPrefix(`${f.topo.topology.prefix}pod-`), [], 'no pod namespace for a host-network pod');
});

test('ServiceAccount admission mounts kube-api-access: token, ca.crt and namespace at the in-cluster path', async (t) => {
  if (!needsNetwork(t, TOOLS)) return;
  const f = await startKubelet(t, 'ksa');
  f.view.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: 'default' } });
  f.view.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'quiet', namespace: 'default' },
    automountServiceAccountToken: false,
  });
  const dir = SERVICE_ACCOUNT_MOUNT_PATH;
  createPod(f, 'sa', {
    serviceAccountName: 'agent',
    containers: [
      {
        name: 'c',
        command: ['/usr/bin/sh', '-c', `cat ${dir}/ca.crt ${dir}/namespace; echo; cat ${dir}/token; echo; echo END; exec sleep 300`],
      },
    ],
  });
  const pod = f.view.find('Pod', 'default', 'sa');
  const volumes = asRecord(pod?.['spec'])['volumes'] as Array<Record<string, unknown>>;
  assert.match(String(volumes[0]?.['name']), /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.deepEqual(asRecord(volumes[0]?.['projected'])['sources'], [
    { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
    { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
  ]);
  const out = await eventually(() => {
    const log = podLog(f, 'sa');
    assert.match(log, /^END$/m);
    return log;
  }, 15_000);
  assert.ok(out.startsWith(`${TEST_CA}default\n`), out);
  const claims = testTokenClaims(out.split('\n')[4] ?? '');
  assert.equal(claims['sub'], 'system:serviceaccount:default:agent');
  assert.deepEqual(claims['aud'], ['https://kubernetes.default.svc.cluster.local'], "no audience asked: the API server's");
  assert.equal(Number(claims['exp']) - Number(claims['iat']), 3607);

  createPod(f, 'quiet', { serviceAccountName: 'quiet', containers: [{ name: 'c', command: ['sleep', '300'] }] });
  assert.equal(asRecord(f.view.find('Pod', 'default', 'quiet')?.['spec'])['volumes'], undefined);
  assert.throws(
    () => createPod(f, 'nosa', { serviceAccountName: 'missing', containers: [{ name: 'c', command: ['sleep', '300'] }] }),
    (err: unknown) =>
      err instanceof ApiError &&
      err.status === 403 &&
      err.message === 'pods "nosa" is forbidden: error looking up service account default/missing: serviceaccount "missing" not found',
  );
});

test('a projected token is rewritten at 80 % of its lifetime, atomically, in the running container', async (t) => {
  if (!needsNetwork(t, TOOLS)) return;
  // Tokens live 3 s: the kubelet must replace the file after ~2.4 s, while the container keeps running.
  const f = await startKubelet(t, 'ktok', 3);
  const dir = SERVICE_ACCOUNT_MOUNT_PATH;
  createPod(f, 'tok', {
    containers: [{ name: 'c', command: ['/usr/bin/sh', '-c', `while :; do cat ${dir}/token; echo; sleep 0.5; done`] }],
  });
  await eventually(
    () => {
      const seen = new Set(
        podLog(f, 'tok')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => testTokenClaims(l)['n']),
      );
      assert.ok(seen.size >= 2, `tokens seen: ${[...seen].join(',')}`);
    },
    15_000,
    200,
  );
  assert.equal(status(f, 'tok')['phase'], 'Running');
  assert.ok(f.tokens.requests.every((r) => r.boundObject?.name === 'tok' && r.nodeName === 'node1'));
});
