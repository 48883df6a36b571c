import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { REPO, ambitctl, downAndCheckClean, fixtureCopy, netnsWithPrefix, pods, run } from './helpers/ambitctl.ts';
import { assertGatewayApiMissing, gatewayApiCrds } from './helpers/gateway-api-crds.ts';
import { componentLog } from './helpers/mesh-components.ts';

// Issue 15: Ambit installed and removed as a user does it, on a fresh local cluster that runs only an app
// (AMBIT_LOCAL_INSTALL=none: the runner starts no Ambit component) and, like a fresh kind or GKE cluster, lacks Gateway
// API (AMBIT_LOCAL_GATEWAY_API=none). `ambitctl check` names what is missing with the fix; `kubectl apply -k
// deploy/overlays/local` → the DaemonSets' pods on every node, the controller ready, the node agent chaining ambit-cni
// into each node's primary CNI config; the app pod that ran before is captured, one started after is captured by the
// plugin, and their traffic goes over HBONE; `ambitctl uninstall --purge` → no capture rules, no CNI config, no object
// of Ambit left, the pods still running and talking in plaintext.
const CLUSTER = 'it-install';
const paths = clusterPaths(CLUSTER);
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/kubectl', '/usr/bin/ss'] };

function kubectl(args: readonly string[], timeoutMs = 60_000) {
  return run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args], { timeoutMs });
}

/** A node's own filesystem (the local cluster's contract 1: node N's hostPath P is at <state>/nodes/N/host/P). */
const onNode = (node: string, path: string): string => join(paths.stateDir, 'nodes', node, 'host', path);
const NODES = ['node1', 'node2'];

/** The plugin types of the node's CNI network, in order (the runtime uses the lexically first list). */
function cniChain(node: string): string[] {
  const dir = onNode(node, '/etc/cni/net.d');
  const first = readdirSync(dir)
    .filter((f) => f.endsWith('.conflist'))
    .sort()[0];
  assert.ok(first !== undefined, `${node} has a CNI network in ${dir}`);
  const list = JSON.parse(readFileSync(join(dir, first), 'utf8')) as { plugins: Array<{ type: string }> };
  return list.plugins.map((p) => p.type);
}

async function echo(server: string, text: string) {
  return ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nc', '-N', '-w', '5', server, '7000'], { input: text });
}

describe('install: check, kubectl apply -k deploy/overlays/local, uninstall on a fresh local cluster', { concurrency: false }, () => {
  let dir = '';
  let ready = false;

  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('install');
    const up = await run([process.execPath, join(REPO, 'cli', 'bin', 'ambitctl.js'), 'local', 'up', '-f', dir, '--nodes', '2'], {
      env: { AMBIT_CLUSTER: CLUSTER, AMBIT_LOCAL_INSTALL: 'none', AMBIT_LOCAL_GATEWAY_API: 'none' },
      timeoutMs: 120_000,
    });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await downAndCheckClean(CLUSTER, dir);
  });

  test('a fresh cluster runs no Ambit component; each node has only its primary CNI; the app runs uncaptured', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    assert.deepEqual(await pods(CLUSTER, 'ambit-system'), []);
    for (const node of NODES) assert.deepEqual(cniChain(node), ['bridge'], `${node}: the primary CNI's config alone`);
    const nft = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nft', 'list', 'tables']);
    assert.equal(nft.code, 0, nft.stderr);
    assert.doesNotMatch(nft.stdout, /inet ambit/);
  });

  test('ambitctl check names the missing Gateway API kinds with the fix; applying their CRDs makes them served', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const r = await ambitctl(CLUSTER, ['check']);
    assert.equal(r.code, 1, `${r.stderr}${r.stdout}`);
    assertGatewayApiMissing(r.stdout);
    // The fix, offline: the test runs sealed, so the CRDs are stand-ins declaring the same kinds (helpers/gateway-api-crds.ts).
    const file = join(dir, 'gateway-api-crds.yaml.txt');
    writeFileSync(file, gatewayApiCrds());
    const applied = await kubectl(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    await eventually(async () => {
      const served = await kubectl(['api-resources', '--api-group=gateway.networking.k8s.io', '-o', 'name']);
      assert.equal(served.code, 0, served.stderr);
      assert.deepEqual(served.stdout.trim().split('\n').sort(), [
        'gatewayclasses.gateway.networking.k8s.io',
        'gateways.gateway.networking.k8s.io',
        'grpcroutes.gateway.networking.k8s.io',
        'httproutes.gateway.networking.k8s.io',
        'referencegrants.gateway.networking.k8s.io',
      ]);
    }, 10_000);
  });

  test('kubectl apply -k, then every rollout completes, and each node agent chains ambit-cni into its node', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    // As typed by a user: client-side apply, validated against the API's OpenAPI.
    const applied = await kubectl(['apply', '-k', join(REPO, 'deploy/overlays/local')]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /daemonset\.apps\/ztunnel created/);
    for (const what of ['deployment/ambit-controller', 'daemonset/ztunnel', 'daemonset/ambit-node-agent']) {
      const r = await kubectl(['rollout', 'status', '-n', 'ambit-system', what, '--timeout=90s'], 100_000);
      assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
    }
    const system = await pods(CLUSTER, 'ambit-system');
    for (const node of NODES) {
      for (const prefix of ['ztunnel-', 'ambit-node-agent-'])
        assert.ok(
          system.some((p) => p.name.startsWith(prefix) && p.node === node && p.phase === 'Running'),
          `${prefix}… runs on ${node}`,
        );
      // The agent is ready once chained (its readiness probe), so the rollout implies it.
      assert.deepEqual(cniChain(node), ['bridge', 'ambit-cni'], `${node}: ambit-cni chained after the primary CNI`);
      assert.ok(existsSync(onNode(node, '/opt/cni/bin/ambit-cni')), `${node}: the plugin installed in /opt/cni/bin`);
    }
  });

  test('the app pod that ran before the install is captured, the one started after too, and they talk over HBONE', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    // Started before ambit-cni was chained: the node agent captures it (as istio-cni's agent does existing pods).
    await eventually(async () => {
      const nft = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nft', 'list', 'table', 'inet', 'ambit']);
      assert.equal(nft.code, 0, nft.stderr);
    }, 20_000);
    const created = await kubectl(['apply', '-f', join(dir, 'demo.yaml.txt')]);
    assert.equal(created.code, 0, created.stderr);
    await eventually(async () => {
      const demo = await pods(CLUSTER, 'demo');
      assert.equal(demo.filter((p) => p.phase === 'Running').length, 2, JSON.stringify(demo));
    }, 60_000);
    const server = (await pods(CLUSTER, 'demo')).find((p) => p.name === 'server');
    assert.ok(server);
    // Started with ambit-cni in the chain: captured as its sandbox was created.
    const nft = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'server', '--', 'nft', 'list', 'table', 'inet', 'ambit']);
    assert.equal(nft.code, 0, nft.stderr);
    await eventually(async () => {
      const r = await echo(server.ip, 'through the mesh\n');
      assert.match(r.stdout, /^hello from server to 10\.244\.1\.\d+\nthrough the mesh\n$/);
      const inbound = componentLog(paths, 'ztunnel', 'node2')
        .split('\n')
        .filter((l) => l.includes('"direction":"inbound"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(
        inbound.some((x) => x['dst.addr'] === `${server.ip}:7000` && x['src.identity'] === 'spiffe://cluster.local/ns/demo/sa/default'),
        'node2 ztunnel took the connection over HBONE from the client identity',
      );
    }, 30_000);
  });

  test('ambitctl debug model reads the controller pod', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const r = await ambitctl(CLUSTER, ['debug', 'model', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const model = JSON.parse(r.stdout) as { workloads: Array<{ namespace?: string; name?: string }> };
    assert.ok(
      model.workloads.some((w) => w.namespace === 'demo' && w.name === 'server'),
      'the demo server is a workload of the model',
    );
  });

  test('ambitctl uninstall --purge: no capture, no CNI config, no Ambit object; the pods keep running, in plaintext', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const apps = [...(await pods(CLUSTER, 'demo')), ...(await pods(CLUSTER, 'plain'))];
    assert.equal(apps.length, 3);
    const r = await ambitctl(CLUSTER, ['uninstall', '--purge', '--timeout=90s'], { timeoutMs: 200_000 });
    assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
    // No `inet ambit` table in any namespace of the cluster: every pod's, and the nodes'.
    const namespaces = netnsWithPrefix(paths.prefix);
    assert.ok(namespaces.length >= 2 + apps.length, namespaces.join(' '));
    for (const ns of namespaces) {
      const tables = await run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables']);
      assert.equal(tables.code, 0, tables.stderr);
      assert.doesNotMatch(tables.stdout, /inet ambit/, `${ns} still has Ambit's capture rules`);
    }
    for (const node of NODES) {
      assert.deepEqual(cniChain(node), ['bridge'], `${node}: the primary CNI's config as it was`);
      assert.deepEqual(readdirSync(onNode(node, '/etc/cni/net.d')), ['10-ambit.conflist'], `${node}: no plugin kubeconfig left`);
      assert.deepEqual(readdirSync(onNode(node, '/opt/cni/bin')), [], `${node}: the plugin removed`);
    }
    // No object install created is left (--purge: the CRDs and the namespace too), nor any the controller wrote.
    const left = await kubectl(['get', '-k', join(REPO, 'deploy/overlays/local'), '--ignore-not-found', '-o', 'name']);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(left.stdout.trim(), '', 'objects of the install left');
    const ns = await kubectl(['get', 'namespace', 'ambit-system', '--ignore-not-found', '-o', 'name']);
    assert.equal(ns.stdout.trim(), '');
    const written = await kubectl(['get', 'configmaps', '-A', '-l', 'app.kubernetes.io/managed-by=ambit', '-o', 'name']);
    assert.equal(written.stdout.trim(), '', 'root-cert ConfigMaps the controller wrote');
    // The app pods are the same pods, still running, and talk directly: nothing listens for HBONE in the server.
    const now = [...(await pods(CLUSTER, 'demo')), ...(await pods(CLUSTER, 'plain'))];
    assert.deepEqual(
      now.map((p) => `${p.namespace}/${p.name} ${p.ip} ${p.phase}`).sort(),
      apps.map((p) => `${p.namespace}/${p.name} ${p.ip} Running`).sort(),
    );
    const listening = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'server', '--', 'ss', '-Hltn']);
    assert.equal(listening.code, 0, listening.stderr);
    assert.doesNotMatch(listening.stdout, /:15008\b|:15006\b|:15001\b/);
    const server = now.find((p) => p.name === 'server');
    const client = now.find((p) => p.name === 'client');
    assert.ok(server && client);
    const e = await echo(server.ip, 'in plaintext\n');
    assert.equal(e.stdout, `hello from server to ${client.ip}\nin plaintext\n`, e.stderr);
  });
});
