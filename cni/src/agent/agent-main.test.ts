// main.ts as a process: flags, serving, and SIGTERM/SIGINT ending it with exit 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from '@ambit/core/testing';
import { parseAgentFlags } from './agent-flags.ts';
import { cniCall, createAgentHarness } from '../../testing/agent-harness.ts';
import { connectFakeZtunnel } from '../../testing/fake-ztunnel.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    // Only this test's own child, by its pid.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, output: () => output };
}

test('flags: all sockets and the state file are required absolute paths; the log level is checked', () => {
  const good = ['--node', 'n1', '--api-socket', '/a', '--cni-socket', '/c', '--ztunnel-socket', '/z', '--state-file', '/s'];
  assert.deepEqual(parseAgentFlags(good), {
    options: { node: 'n1', apiSocket: '/a', cniSocket: '/c', ztunnelSocket: '/z', stateFile: '/s' },
    logLevel: 'info',
  });
  assert.deepEqual(parseAgentFlags([...good, '--exclude-namespaces', 'kube-system, infra', '--log-level', 'debug']).options.excludeNamespaces, ['kube-system', 'infra']);
  assert.throws(() => parseAgentFlags(good.slice(2)), /--node is required/);
  assert.throws(() => parseAgentFlags([...good.slice(0, 3), 'relative', ...good.slice(4)]), /--api-socket must be an absolute path/);
  assert.throws(() => parseAgentFlags([...good, '--log-level', 'loud']), /--log-level must be one of/);
  assert.throws(() => parseAgentFlags([...good, '--bogus']), /bogus/);
});

test('bad flags exit 2 with the reason and the usage', async (t) => {
  const run = runMain(t, ['--api-socket', '/x']);
  assert.deepEqual(await run.exited, { code: 2, signal: null });
  assert.match(run.output(), /--node is required/);
  assert.match(run.output(), /usage: main\.ts --node NAME/);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`the agent process serves ztunnel and the CNI plugin, logs JSON, and exits 0 on ${signal}`, async (t) => {
    const h = await createAgentHarness();
    t.after(() => h.close());
    const run = runMain(t, [
      '--node', 'node1',
      '--api-socket', h.api.socketPath,
      '--cni-socket', h.cniSocket,
      '--ztunnel-socket', h.ztunnelSocket,
      '--state-file', h.stateFile,
      '--log-level', 'debug',
    ]);
    await eventually(() => assert.ok(existsSync(h.cniSocket) && existsSync(h.ztunnelSocket), run.output()), 20_000);
    const zt = await connectFakeZtunnel(h.ztunnelSocket);
    t.after(() => zt.close());
    await zt.waitFor((m) => m.type === 'snapshot-sent');
    await eventually(() => assert.match(run.output(), /"msg":"ztunnel connected"/));
    assert.deepEqual(await cniCall(h.cniSocket, '/v1/cni/del', { containerId: 'never-seen' }), { status: 200, body: {} });
    run.child.kill(signal);
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    assert.ok(zt.closed());
    assert.match(run.output(), /"msg":"node agent stopped"/);
    assert.equal(existsSync(h.cniSocket), false, 'the CNI socket is removed');
  });
}
