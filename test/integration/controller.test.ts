import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger, ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, type Authorization, type Service, type Workload } from '@ambit/core';
import { decodeCheckedAddress, decodeCheckedAuthorization } from '@ambit/core/codec';
import { createCaClient, parseCertInfo, type CaClient } from '@ambit/core/identity';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { clusterPaths } from '@ambit/local';
import { ambitctl, ambitctlOk, downAndCheckClean, fixtureCopy, removeDir, run } from './helpers/ambitctl.ts';
import { componentPod } from './helpers/mesh-components.ts';
import { startUnixForwarder, type UnixForwarder } from './helpers/netns-forwarder.ts';

// Issue 3 end to end on a local cluster with Ambit installed from deploy/overlays/local: the controller pod (Deployment
// ambit-system/ambit-controller) watches the cluster's API, pushes the model over delta xDS within a second to proxies
// that connect as ztunnels do (TLS on :15012 verified with the published root, a pod-bound ztunnel token), signs
// certificates only for the node a token's ztunnel pod runs on (TokenReview), writes policy status and root ConfigMaps,
// and keeps its root (Secret ambit-system/ambit-ca) across a restart of its pod.
// The test process opens no socket toward the cluster: a socat in node1's network namespace carries a unix socket of
// the test to the controller's Service (helpers/netns-forwarder.ts).

const CLUSTER = 'it-ctl';
const paths = clusterPaths(CLUSTER);
/** The controller's serving certificate names its Service (controller/src/app.ts servingTls). */
const SERVER_NAME = 'ambit-controller.ambit-system.svc';
type Address = { workload: Workload } | { service: Service };

function kubectl(args: readonly string[]): ReturnType<typeof run> {
  return run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args]);
}

/** When a watch of the pod first shows it Ready (epoch ms, stamped as the line arrives). */
function watchReady(namespace: string, name: string): { readonly at: Promise<number>; stop(): void } {
  const child = spawn(
    'kubectl',
    [
      '--kubeconfig',
      paths.kubeconfig,
      'get',
      'pod',
      '-n',
      namespace,
      name,
      '-w',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const at = new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      if (buffered.split('\n').includes('True')) resolve(Date.now());
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`kubectl watch of ${namespace}/${name} ended (${String(code)}) before it was Ready`)));
  });
  at.catch(() => undefined); // awaited by the caller; a watch stopped after Ready is not an error
  return { at, stop: () => child.kill() };
}

async function kubectlOk(args: readonly string[]): Promise<string> {
  const r = await kubectl(args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The root every proxy verifies the controller with, as published in ambit-system (what ztunnel's --root-cert-file holds). */
const publishedRoot = (namespace = 'ambit-system'): Promise<string> =>
  kubectlOk(['get', 'configmap', '-n', namespace, 'ambit-ca-root-cert', '-o', 'jsonpath={.data.root-cert\\.pem}']);

/** The CA root the controller persisted (controller/src/ca/secret-root-store.ts). */
const storedRoot = async (): Promise<string> =>
  Buffer.from(
    await kubectlOk(['get', 'secret', '-n', 'ambit-system', 'ambit-ca', '-o', 'jsonpath={.data.ca-cert\\.pem}']),
    'base64',
  ).toString('utf8');

/**
 * What node `node`'s ztunnel holds in its projected volume: a token for ambit-system/ztunnel, audience ambit-ca,
 * bound to its pod, so the CA's TokenReview finds the node the pod is scheduled on.
 */
async function ztunnelToken(node: string): Promise<string> {
  const pod = componentPod(paths, 'ztunnel', node);
  const uid = await kubectlOk(['get', 'pod', '-n', 'ambit-system', pod, '-o', 'jsonpath={.metadata.uid}']);
  const token = await kubectlOk([
    ...['create', 'token', 'ztunnel', '-n', 'ambit-system', '--audience', 'ambit-ca'],
    ...['--bound-object-kind', 'Pod', '--bound-object-name', pod, '--bound-object-uid', uid],
  ]);
  return token.trim();
}

/** How this test reaches the controller: the forward's target, the root to verify it with, a token per node. */
interface ControllerLink {
  readonly target: string;
  readonly rootPem: string;
  readonly tokens: ReadonlyMap<string, string>;
}

function proxy(
  link: ControllerLink,
  node: string,
): {
  client: XdsClient;
  addresses: () => ReadonlyMap<string, Address>;
  authz: () => ReadonlyMap<string, Authorization>;
} {
  const token = link.tokens.get(node) ?? '';
  const client = createXdsClient({
    target: link.target,
    tls: { ca: link.rootPem, servername: SERVER_NAME },
    // Not the real ztunnel's node id (the node name), so the controller sees these as streams of their own.
    node: { id: `ztunnel~${node}`, metadata: { NODE_NAME: node } },
    callMetadata: () => ({ authorization: `Bearer ${token}` }),
    log: silentLogger(),
    backoff: { initialMs: 50, maxMs: 500 },
    types: [
      xdsType<Address>({
        typeUrl: ADDRESS_TYPE_URL,
        decode: (_name, bytes) => decodeCheckedAddress(bytes),
        onChange: () => undefined,
      }),
      xdsType<Authorization>({
        typeUrl: AUTHORIZATION_TYPE_URL,
        decode: (_n, b) => decodeCheckedAuthorization(b),
        onChange: () => undefined,
      }),
    ],
  });
  return {
    client,
    addresses: () => client.state(ADDRESS_TYPE_URL) as ReadonlyMap<string, Address>,
    authz: () => client.state(AUTHORIZATION_TYPE_URL) as ReadonlyMap<string, Authorization>,
  };
}

function caClient(link: ControllerLink, node: string): CaClient {
  const token = link.tokens.get(node) ?? '';
  return createCaClient({ target: link.target, tls: { ca: link.rootPem, serverName: SERVER_NAME }, token: () => token });
}

const workloadOf = (p: ReturnType<typeof proxy>, name: string): Workload | undefined => {
  for (const a of p.addresses().values()) if ('workload' in a && a.workload.name === name) return a.workload;
  return undefined;
};

describe('controller on a local cluster', { concurrency: false }, () => {
  let dir = '';
  let work = '';
  let up = false;
  let forwarder: UnixForwarder | undefined;
  let link: ControllerLink | undefined;
  const proxies: Array<ReturnType<typeof proxy>> = [];

  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('controller');
    work = mkdtempSync(join(tmpdir(), 'ambit-it-ctl-'));
    const r = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    up = true;
    const vip = await kubectlOk(['get', 'svc', '-n', 'ambit-system', 'ambit-controller', '-o', 'jsonpath={.spec.clusterIP}']);
    assert.match(vip, /^\d+\.\d+\.\d+\.\d+$/, 'the controller Service has a ClusterIP');
    forwarder = await startUnixForwarder(`${paths.prefix}node1`, join(work, 'controller.sock'), `${vip}:15012`);
    link = {
      target: forwarder.target,
      rootPem: await publishedRoot(),
      tokens: new Map([
        ['node1', await ztunnelToken('node1')],
        ['node2', await ztunnelToken('node2')],
      ]),
    };
  });

  after(async () => {
    for (const p of proxies) p.client.close();
    await forwarder?.stop();
    if (up) await downAndCheckClean(CLUSTER, dir, work);
    else for (const d of [dir, work]) if (d !== '') removeDir(d);
  });

  test('two proxies get a pod add, update and delete within 1 s each', async (t) => {
    if (!requirePrivileges(t, { root: true }) || link === undefined) return;
    proxies.push(proxy(link, 'node1'), proxy(link, 'node2'));
    await eventually(() => proxies.forEach((p) => assert.ok(workloadOf(p, 'api'), 'initial state has the api workload')), 10_000);
    const api = workloadOf(proxies[0] as ReturnType<typeof proxy>, 'api') as Workload;
    assert.equal(api.tunnelProtocol, 'HBONE');
    assert.equal(api.serviceAccount, 'api');
    assert.deepEqual(api.services['mesh/api.mesh.svc.cluster.local'], [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }]);

    const manifest = join(work, 'extra.yaml');
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: mesh, labels: {app: api, version: v1}}\nspec:\n  nodeName: node2\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    const timed = async (
      what: string,
      change: () => Promise<unknown>,
      check: (p: ReturnType<typeof proxy>) => void,
      changedAt: () => Promise<number> = async () => Date.now(),
    ): Promise<void> => {
      // From the moment the API has the change (the command returned, or the pod became Ready) to both proxies holding it.
      await change();
      const started = await changedAt();
      await eventually(() => proxies.forEach(check), 5000);
      const ms = Date.now() - started;
      t.diagnostic(`${what}: ${ms} ms to both proxies`);
      assert.ok(ms < 1000, `${what} reached both proxies in ${ms} ms (< 1 s)`);
    };
    // A new pod is HEALTHY once it is Ready, which takes its sandbox and container start on the node: the clock for the
    // push starts when the API says Ready, as a watch started right after the apply sees it (long before the pod can be).
    await timed(
      'add',
      () => ambitctlOk(CLUSTER, ['local', 'apply', '-f', manifest]),
      (p) => assert.equal(workloadOf(p, 'extra')?.status, 'HEALTHY', 'extra is up'),
      async () => {
        const ready = watchReady('mesh', 'extra');
        try {
          return await ready.at;
        } finally {
          ready.stop();
        }
      },
    );
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('version: v1', 'version: v2'));
    await timed(
      'update',
      () => kubectlOk(['label', 'pod', '-n', 'mesh', 'extra', 'version=v2', '--overwrite']),
      (p) => assert.equal(workloadOf(p, 'extra')?.canonicalRevision, 'v2', 'revision follows the label'),
    );
    await timed(
      'delete',
      () => ambitctlOk(CLUSTER, ['local', 'delete', '-f', manifest]),
      (p) => assert.notEqual(workloadOf(p, 'extra')?.status, 'HEALTHY', 'a terminating pod stops being an endpoint'),
    );
    await eventually(() => proxies.forEach((p) => assert.equal(workloadOf(p, 'extra'), undefined, 'then it is removed')), 10_000);
  });

  test('an AuthorizationPolicy with HTTP fields is converted fail-closed, pushed, and its status says why', async (t) => {
    if (!requirePrivileges(t, { root: true }) || link === undefined) return;
    const file = join(work, 'policy.yaml');
    writeFileSync(
      file,
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: get-only, namespace: mesh}\nspec:\n  rules:\n  - to: [{operation: {methods: [GET]}}]\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
    await eventually(
      () =>
        proxies.forEach((p) =>
          assert.deepEqual(p.authz().get('mesh/get-only')?.rules, [], 'the HTTP-only ALLOW rule is dropped: allow nothing'),
        ),
      5000,
    );
    const status = await eventually(async () => {
      const message = await kubectlOk([
        'get',
        'authorizationpolicy',
        '-n',
        'mesh',
        'get-only',
        '-o',
        'jsonpath={.status.conditions[0].message}',
      ]);
      assert.match(message, /ztunnel does not support HTTP attributes \(found: methods\)/);
      return message;
    }, 5000);
    t.diagnostic(status);
  });

  test('the CA signs for a node that runs the service account, and refuses another node', async (t) => {
    if (!requirePrivileges(t, { root: true }) || link === undefined) return;
    // Each presents its node's ztunnel token: the CA learns the node from the pod the token is bound to.
    const node1 = caClient(link, 'node1');
    const node2 = caClient(link, 'node2');
    t.after(() => {
      node1.close();
      node2.close();
    });
    const identity = 'spiffe://cluster.local/ns/mesh/sa/api';
    const cert = await node1.fetchCertificate(identity, 3600);
    assert.deepEqual(parseCertInfo(cert.certPem).uriSans, [identity]);
    assert.equal((await publishedRoot('mesh')).trim(), cert.rootPem.trim(), 'the root is published in the namespace');
    await assert.rejects(
      node2.fetchCertificate(identity),
      /node node2 may not request spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/api: no running pod of service account mesh\/api is scheduled on it/,
    );
  });

  test('debug model prints workloads, services and authorizations', async (t) => {
    if (!requirePrivileges(t, { root: true }) || link === undefined) return;
    const model = JSON.parse(await ambitctlOk(CLUSTER, ['debug', 'model', '-o', 'json'])) as Record<string, unknown[]>;
    assert.ok(
      Array.isArray(model['workloads']) && Array.isArray(model['services']) && Array.isArray(model['authorizations']),
      'three arrays',
    );
    assert.ok(
      model['services']?.some((s) => (s as Service).hostname === 'api.mesh.svc.cluster.local'),
      'the api Service is in the model',
    );
    assert.match(await ambitctlOk(CLUSTER, ['debug', 'model']), /Workloads\n.*NAMESPACE/);
  });

  test('after a controller restart the proxies converge again and the root is the same', async (t) => {
    if (!requirePrivileges(t, { root: true }) || link === undefined) return;
    const stored = await storedRoot();
    const published = await publishedRoot();
    assert.equal(published.trim(), stored.trim(), 'the published root is the stored one');
    const system = await kubectlOk(['get', 'pods', '-n', 'ambit-system', '-l', 'app=ambit-controller', '-o', 'name']);
    assert.equal(system.trim().split('\n').length, 1, `one controller pod (the local overlay runs one replica): ${system}`);
    const old = componentPod(paths, 'controller');
    const streamsBefore = proxies.map((p) => p.client.stats().streams);
    // kubectl waits until the pod is gone: from then on no stream can be served by the old controller.
    await kubectlOk(['delete', 'pod', '-n', 'ambit-system', old, '--wait=true', '--timeout=60s']);
    // While it is away, the cluster changes; proxies keep their last good state meanwhile.
    const file = join(work, 'late.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: late, namespace: mesh}\nspec:\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
    assert.ok(workloadOf(proxies[0] as ReturnType<typeof proxy>, 'api'), 'last good state kept while the controller is away');
    // The forward goes to the Service, so each proxy's new stream reaches the replacement pod once it is ready.
    await eventually(
      () => proxies.forEach((p) => assert.equal(workloadOf(p, 'late')?.status, 'HEALTHY', 'converged after restart')),
      60_000,
    );
    proxies.forEach((p, i) => assert.ok(p.client.stats().streams > (streamsBefore[i] ?? 0), 'the proxy reconnected'));
    assert.notEqual(componentPod(paths, 'controller'), old, 'a new controller pod serves');
    // Eventually: the model and the pushes that follow it are ~100 ms apart (xDS debounce).
    await eventually(async () => {
      const model = JSON.parse(await ambitctlOk(CLUSTER, ['debug', 'model', '-o', 'json'])) as { workloads: Workload[] };
      for (const p of proxies) {
        const names = [...p.addresses().values()].flatMap((a) => ('workload' in a ? [a.workload.uid] : [])).sort();
        assert.deepEqual(names, model.workloads.map((w) => w.uid).sort(), 'proxy state equals the controller model');
      }
    }, 10_000);
    assert.equal(await storedRoot(), stored, 'the root survived the restart');
    assert.equal(await publishedRoot(), published, 'the published root is unchanged');
    // And the new controller signs with it.
    const ca = caClient(link, 'node1');
    t.after(() => ca.close());
    const cert = await ca.fetchCertificate('spiffe://cluster.local/ns/mesh/sa/api', 3600);
    assert.equal(cert.rootPem.trim(), stored.trim(), 'the new controller signs under the same root');
  });
});
