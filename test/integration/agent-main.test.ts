// The node agent's main.ts as a process, reading the local cluster's API server with the kubeconfig it is given:
// serving, and SIGTERM/SIGINT ending it with exit 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
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

function runMain(t: TestContext, args: readonly string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
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
