import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { REPO, ambitctl, downAndCheckClean, fixtureCopy, pods, run } from './helpers/ambitctl.ts';
import { componentLog } from './helpers/mesh-components.ts';

// Issue 15 §2 acceptance: `kubectl apply -k deploy/overlays/local` onto a fresh local cluster that runs only an app
// (AMBIT_LOCAL_INSTALL=none: the runner starts no Ambit component) → the DaemonSets' pods on every node, the controller
// ready, and an ambient app's traffic carried over HBONE by the ztunnels, with the shipped flags and RBAC.
const CLUSTER = 'it-install';
const paths = clusterPaths(CLUSTER);
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/kubectl'] };

function kubectl(args: readonly string[], timeoutMs = 60_000) {
  return run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args], { timeoutMs });
}

describe('install: kubectl apply -k deploy/overlays/local onto a fresh local cluster', { concurrency: false }, () => {
  let dir = '';
  let ready = false;

  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('install');
    const up = await run([process.execPath, join(REPO, 'cli', 'bin', 'ambitctl.js'), 'local', 'up', '-f', dir, '--nodes', '2'], {
      env: { AMBIT_CLUSTER: CLUSTER, AMBIT_LOCAL_INSTALL: 'none' },
      timeoutMs: 120_000,
    });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await downAndCheckClean(CLUSTER, dir);
  });

  test('a fresh cluster runs no Ambit component', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    assert.deepEqual(await pods(CLUSTER, 'ambit-system'), []);
  });

  test('kubectl apply -k, then every rollout completes: controller ready, ztunnel and node agent on every node', async (t) => {
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
    for (const node of ['node1', 'node2']) {
      for (const prefix of ['ztunnel-', 'ambit-node-agent-'])
        assert.ok(
          system.some((p) => p.name.startsWith(prefix) && p.node === node && p.phase === 'Running'),
          `${prefix}… runs on ${node}`,
        );
    }
  });

  test('an ambient app installed afterwards talks over HBONE with its own identity', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const created = await kubectl(['apply', '-f', join(dir, 'demo.yaml.txt')]);
    assert.equal(created.code, 0, created.stderr);
    await eventually(async () => {
      const demo = await pods(CLUSTER, 'demo');
      assert.equal(demo.filter((p) => p.phase === 'Running').length, 2, JSON.stringify(demo));
    }, 60_000);
    const server = (await pods(CLUSTER, 'demo')).find((p) => p.name === 'server');
    assert.ok(server);
    // The pod is captured: ztunnel's rules are in its namespace.
    const nft = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nft', 'list', 'table', 'inet', 'ambit']);
    assert.equal(nft.code, 0, nft.stderr);
    await eventually(async () => {
      const r = await ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nc', '-N', '-w', '5', server.ip, '7000'], {
        input: 'through the mesh\n',
      });
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
});
