import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildPlugin, netConf, podEnv, runPluginBin, socketDir, startFakeAgent } from '../../testing/plugin-harness.ts';

before(buildPlugin);

const POD = { namespace: 'mesh', name: 'web-1' };

test('DEL tells the agent, and is idempotent', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath });
  for (let i = 0; i < 2; i++) {
    const out = await runPluginBin(podEnv('DEL', POD), conf);
    assert.equal(out.exitCode, 0, out.stdout);
    assert.equal(out.stdout, '');
  }
  assert.deepEqual(
    agent.calls.map((c) => [c.path, c.body]),
    [
      ['/v1/cni/del', { containerId: 'c0ffee', podName: 'web-1', podNamespace: 'mesh' }],
      ['/v1/cni/del', { containerId: 'c0ffee', podName: 'web-1', podNamespace: 'mesh' }],
    ],
  );
});

test('DEL succeeds with the netns gone, no prevResult and the agent dead or hanging', async (t) => {
  const dir = await socketDir(t);
  const dead = netConf({ agentSocket: join(dir, 'dead.sock') }, null);
  for (const netns of ['', '/run/netns/ambit-tcni-never-existed']) {
    const out = await runPluginBin(podEnv('DEL', POD, { CNI_NETNS: netns }), dead);
    assert.equal(out.exitCode, 0, out.stdout);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /node agent not told \(ignored\)/);
  }
  const hanging = await startFakeAgent(t, dir, { status: 200, delayMs: 30_000 });
  const started = Date.now();
  const out = await runPluginBin(podEnv('DEL', POD), netConf({ agentSocket: hanging.socketPath }));
  assert.equal(out.exitCode, 0, out.stdout);
  assert.ok(out.exitedAt - started < 5000, `DEL waited ${out.exitedAt - started} ms on a hanging agent`);
});

test('DEL with an agent error still succeeds', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir, { status: 503, body: 'draining' });
  const out = await runPluginBin(podEnv('DEL', POD), netConf({ agentSocket: agent.socketPath }));
  assert.equal(out.exitCode, 0);
  assert.match(out.stderr, /HTTP 503: draining/);
});
