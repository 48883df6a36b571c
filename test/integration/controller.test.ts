import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger, ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, type Authorization, type Service, type Workload } from '@ambit/core';
import { decodeCheckedAddress, decodeCheckedAuthorization } from '@ambit/core/codec';
import { createCaClient, parseCertInfo } from '@ambit/core/identity';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { clusterPaths } from '@ambit/local';
import { ambitctl, ambitctlOk, fixtureCopy, processesWith, removeDir, run } from './helpers/ambitctl.ts';

// Issue 3 end to end on a local cluster: the controller process that `local up` runs watches the cluster's API,
// pushes the model to proxies over delta xDS within a second, signs certificates for the right nodes, and writes
// status and root ConfigMaps.

const CLUSTER = 'it-ctl';
const paths = clusterPaths(CLUSTER);
const xdsSocket = join(paths.stateDir, 'controller', 'xds.sock');
type Address = { workload: Workload } | { service: Service };

function proxy(id: string): {
  client: XdsClient;
  addresses: () => ReadonlyMap<string, Address>;
  authz: () => ReadonlyMap<string, Authorization>;
} {
  const client = createXdsClient({
    target: `unix:${xdsSocket}`,
    node: { id },
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

const workloadOf = (p: ReturnType<typeof proxy>, name: string): Workload | undefined => {
  for (const a of p.addresses().values()) if ('workload' in a && a.workload.name === name) return a.workload;
  return undefined;
};

describe('controller on a local cluster', { concurrency: false }, () => {
  let dir = '';
  let up = false;
  const proxies: Array<ReturnType<typeof proxy>> = [];

  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('controller');
    const r = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    up = true;
  });

  after(async () => {
    for (const p of proxies) p.client.close();
    if (up) await ambitctl(CLUSTER, ['local', 'down']);
    if (dir !== '') removeDir(dir);
  });

  test('two proxies get a pod add, update and delete within 1 s each', async (t) => {
    if (!requirePrivileges(t, { root: true }) || !up) return;
    proxies.push(proxy('ztunnel~node1'), proxy('ztunnel~node2'));
    await eventually(() => proxies.forEach((p) => assert.ok(workloadOf(p, 'api'), 'initial state has the api workload')), 10_000);
    const api = workloadOf(proxies[0] as ReturnType<typeof proxy>, 'api') as Workload;
    assert.equal(api.tunnelProtocol, 'HBONE');
    assert.equal(api.serviceAccount, 'api');
    assert.deepEqual(api.services['mesh/api.mesh.svc.cluster.local'], [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }]);

    const manifest = join(dir, '..', `${CLUSTER}-extra.yaml`);
    writeFileSync(
      manifest,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: mesh, labels: {app: api, version: v1}}\nspec:\n  nodeName: node2\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    const timed = async (what: string, change: () => Promise<unknown>, check: (p: ReturnType<typeof proxy>) => void): Promise<void> => {
      // From the moment the API has the change (the command returned) to both proxies holding it.
      await change();
      const started = Date.now();
      await eventually(() => proxies.forEach(check), 5000);
      const ms = Date.now() - started;
      t.diagnostic(`${what}: ${ms} ms to both proxies`);
      assert.ok(ms < 1000, `${what} reached both proxies in ${ms} ms (< 1 s)`);
    };
    await timed(
      'add',
      () => ambitctlOk(CLUSTER, ['local', 'apply', '-f', manifest]),
      (p) => assert.equal(workloadOf(p, 'extra')?.status, 'HEALTHY', 'extra is up'),
    );
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('version: v1', 'version: v2'));
    const kubeconfig = paths.kubeconfig;
    await timed(
      'update',
      () => run(['kubectl', '--kubeconfig', kubeconfig, 'label', 'pod', '-n', 'mesh', 'extra', 'version=v2', '--overwrite']),
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
    if (!requirePrivileges(t, { root: true }) || !up) return;
    const file = join(dir, '..', `${CLUSTER}-policy.yaml`);
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
      const r = await run([
        'kubectl',
        '--kubeconfig',
        paths.kubeconfig,
        'get',
        'authorizationpolicy',
        '-n',
        'mesh',
        'get-only',
        '-o',
        'jsonpath={.status.conditions[0].message}',
      ]);
      assert.match(r.stdout, /ztunnel does not support HTTP attributes \(found: methods\)/);
      return r.stdout;
    }, 5000);
    t.diagnostic(status);
  });

  test('the CA signs for a node that runs the service account, and refuses another node', async (t) => {
    if (!requirePrivileges(t, { root: true }) || !up) return;
    const client = (node: string) =>
      createCaClient({ target: `unix:${xdsSocket}`, token: () => readFileSync(join(paths.stateDir, 'nodes', node, 'ca-token'), 'utf8') });
    const node1 = client('node1');
    const node2 = client('node2');
    t.after(() => {
      node1.close();
      node2.close();
    });
    const identity = 'spiffe://cluster.local/ns/mesh/sa/api';
    const cert = await node1.fetchCertificate(identity, 3600);
    assert.deepEqual(parseCertInfo(cert.certPem).uriSans, [identity]);
    const published = await run([
      'kubectl',
      '--kubeconfig',
      paths.kubeconfig,
      'get',
      'configmap',
      '-n',
      'mesh',
      'ambit-ca-root-cert',
      '-o',
      'jsonpath={.data.root-cert\\.pem}',
    ]);
    assert.equal(published.stdout.trim(), cert.rootPem.trim(), 'the root is published in the namespace');
    await assert.rejects(node2.fetchCertificate(identity), /no running pod of service account mesh\/api is scheduled on it/);
  });

  test('debug model prints workloads, services and authorizations', async (t) => {
    if (!requirePrivileges(t, { root: true }) || !up) return;
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
    if (!requirePrivileges(t, { root: true }) || !up) return;
    const rootBefore = readFileSync(join(paths.stateDir, 'controller', 'ca', 'ca-cert.pem'), 'utf8');
    // The controller this cluster started: the one process serving this cluster's xDS socket.
    const pids = processesWith('--xds-socket', xdsSocket);
    assert.equal(pids.length, 1, 'one controller process');
    process.kill(pids[0] as number, 'SIGKILL');
    // While it is away, the cluster changes; proxies keep their last good state meanwhile.
    const file = join(dir, '..', `${CLUSTER}-late.yaml`);
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: late, namespace: mesh}\nspec:\n  containers: [{name: c, command: [sleep, infinity]}]\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
    assert.ok(workloadOf(proxies[0] as ReturnType<typeof proxy>, 'api'), 'last good state kept while the controller is away');
    await eventually(
      () => proxies.forEach((p) => assert.equal(workloadOf(p, 'late')?.status, 'HEALTHY', 'converged after restart')),
      20_000,
    );
    const model = JSON.parse(await ambitctlOk(CLUSTER, ['debug', 'model', '-o', 'json'])) as { workloads: Workload[] };
    for (const p of proxies) {
      const names = [...p.addresses().values()].flatMap((a) => ('workload' in a ? [a.workload.uid] : [])).sort();
      assert.deepEqual(names, model.workloads.map((w) => w.uid).sort(), 'proxy state equals the controller model');
    }
    assert.equal(
      readFileSync(join(paths.stateDir, 'controller', 'ca', 'ca-cert.pem'), 'utf8'),
      rootBefore,
      'the root survived the restart',
    );
  });
});
