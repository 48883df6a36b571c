// The node agent's main.ts as a process, reading the local cluster's API server with the kubeconfig it is given:
// serving, and SIGTERM/SIGINT ending it with exit 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { cniCall } from '../../cni/testing/agent-harness.ts';
import { connectFakeZtunnel } from '../../cni/testing/fake-ztunnel.ts';
import { createAgentHarness } from './helpers/agent-harness.ts';
import { REPO } from './helpers/ambitctl.ts';

const MAIN = join(REPO, 'cni', 'src', 'agent', 'main.ts');

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

function runMain(t: TestContext, args: readonly string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(async () => {
    // Only this test's own child, by its pid.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, output: () => output };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`the agent process serves ztunnel and the CNI plugin, logs JSON, and exits 0 on ${signal}`, async (t) => {
    const h = await createAgentHarness();
    t.after(() => h.close());
    const run = runMain(t, [
      '--node',
      'node1',
      '--kubeconfig',
      h.api.writeKubeconfig(join(h.dir, 'kubeconfig')),
      '--cni-socket',
      h.cniSocket,
      '--ztunnel-socket',
      h.ztunnelSocket,
      '--state-file',
      h.stateFile,
      '--log-level',
      'debug',
    ]);
    await eventually(() => assert.ok(existsSync(h.cniSocket) && existsSync(h.ztunnelSocket), run.output()), 20_000);
    const zt = await connectFakeZtunnel(h.ztunnelSocket);
    t.after(() => zt.close());
    await zt.waitFor((m) => m.type === 'snapshot-sent');
    await eventually(() => assert.match(run.output(), /"msg":"ztunnel connected"/));
    // It reads the API named by the kubeconfig: the first lists of namespaces and pods went through.
    assert.match(run.output(), new RegExp(`"api":"${h.api.url}".*"msg":"node agent started"`));
    await eventually(() => assert.match(run.output(), /"msg":"pod and namespace caches synced"/));
    assert.deepEqual(await cniCall(h.cniSocket, '/v1/cni/del', { containerId: 'never-seen' }), { status: 200, body: {} });
    run.child.kill(signal);
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    assert.ok(zt.closed());
    assert.match(run.output(), /"msg":"node agent stopped"/);
    assert.equal(existsSync(h.cniSocket), false, 'the CNI socket is removed');
  });
}

test('--install-cni: the process chains ambit-cni, keeps it over a restart, and removes it once its DaemonSet is deleted', async (t) => {
  const h = await createAgentHarness();
  t.after(() => h.close());
  const store = h.objects.store;
  const ds = store.create({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ambit-node-agent', namespace: 'ambit-system' },
    spec: {
      selector: { matchLabels: { app: 'ambit-node-agent' } },
      template: {
        metadata: { labels: { app: 'ambit-node-agent' } },
        spec: { containers: [{ name: 'node-agent', image: 'ghcr.io/ambit-dev/ambit:0.1.0' }] },
      },
    },
  });
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'ambit-node-agent-x',
      namespace: 'ambit-system',
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ambit-node-agent', uid: ds.metadata.uid ?? '', controller: true },
      ],
    },
    spec: { nodeName: 'node1', containers: [{ name: 'node-agent', image: 'ghcr.io/ambit-dev/ambit:0.1.0' }] },
  });
  const binDir = join(h.dir, 'host', 'opt', 'cni', 'bin');
  const confDir = join(h.dir, 'host', 'etc', 'cni', 'net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  const primary = join(confDir, '10-kindnet.conflist');
  const original =
    '{"cniVersion":"0.3.1","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false},{"type":"portmap","capabilities":{"portMappings":true}}]}\n';
  writeFileSync(primary, original);
  const args = [
    '--node',
    'node1',
    '--kubeconfig',
    h.api.writeKubeconfig(join(h.dir, 'kubeconfig')),
    '--cni-socket',
    h.cniSocket,
    '--ztunnel-socket',
    h.ztunnelSocket,
    '--state-file',
    h.stateFile,
    '--install-cni',
    '--cni-bin-dir',
    binDir,
    '--cni-conf-dir',
    confDir,
    '--host-cni-conf-dir',
    confDir,
  ];
  const env = { POD_NAME: 'ambit-node-agent-x', POD_NAMESPACE: 'ambit-system' };
  const types = (): unknown[] =>
    (JSON.parse(readFileSync(primary, 'utf8')) as { plugins: Array<{ type: string }> }).plugins.map((p) => p.type);

  const first = runMain(t, args, env);
  await eventually(() => assert.match(first.output(), /"msg":"CNI plugin installed and watched"/), 20_000);
  assert.deepEqual(types(), ['ptp', 'portmap', 'ambit-cni'], first.output());
  const entry = (JSON.parse(readFileSync(primary, 'utf8')) as { plugins: Array<Record<string, unknown>> }).plugins[2];
  assert.deepEqual(entry, { agentSocket: h.cniSocket, kubeconfig: join(confDir, 'ZZZ-ambit-cni-kubeconfig'), type: 'ambit-cni' });
  assert.deepEqual(readdirSync(binDir).sort(), ['ambit-cni', 'ambit-cni-node', 'ambit-cni.d']);
  assert.match(readFileSync(join(confDir, 'ZZZ-ambit-cni-kubeconfig'), 'utf8'), new RegExp(`server: ${h.api.url}`));
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
  assert.match(first.output(), /"msg":"restart, not uninstall: pods stay captured"/);
  assert.deepEqual(types(), ['ptp', 'portmap', 'ambit-cni'], 'a restart leaves the plugin chained');

  const second = runMain(t, args, env);
  await eventually(() => assert.match(second.output(), /"msg":"CNI plugin installed and watched"/), 20_000);
  store.delete(store.typeOf({ apiVersion: 'apps/v1', kind: 'DaemonSet' }), 'ambit-system', 'ambit-node-agent');
  second.child.kill('SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null });
  assert.match(
    second.output(),
    /"reason":"DaemonSet ambit-system\/ambit-node-agent is gone".*"msg":"Ambit is being removed from this node/,
  );
  assert.equal(readFileSync(primary, 'utf8'), original, 'the primary config byte for byte');
  assert.deepEqual(readdirSync(confDir), ['10-kindnet.conflist']);
  assert.deepEqual(readdirSync(binDir), []);
  assert.equal(existsSync(h.stateFile), false);
});
