// ADD without a readable API: no kubeconfig (the agent decides), an unreachable or unreadable API (fail closed, except
// in excluded namespaces), and invocations that are not pods. ADD deciding membership from a real API is tested in
// test/integration/cni-plugin.test.ts.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  BRIDGE_RESULT,
  buildPlugin,
  kubeconfigFile,
  netConf,
  podEnv,
  runPluginBin,
  socketDir,
  startFakeAgent,
} from '../../testing/plugin-harness.ts';

before(buildPlugin);

function parse(stdout: string): unknown {
  return JSON.parse(stdout) as unknown;
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('VERSION prints the supported versions', async () => {
  const out = await runPluginBin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.equal(out.exitCode, 0);
  assert.equal(out.stdout.trim(), '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}');
});

test('API unreachable: ADD fails closed in a normal namespace and passes in an excluded one', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const kubeconfig = await kubeconfigFile(dir, `https://127.0.0.1:${await closedPort()}`);
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig });
  const closed = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy' }), conf);
  assert.notEqual(closed.exitCode, 0);
  const err = parse(closed.stdout) as { code: number; msg: string };
  assert.equal(err.code, 11);
  assert.match(err.msg, /cannot read (pod plain\/legacy|namespace plain) from the API.*ECONNREFUSED/);
  for (const ns of ['kube-system', 'ambit-system']) {
    const open = await runPluginBin(podEnv('ADD', { namespace: ns, name: 'coredns' }), conf);
    assert.equal(open.exitCode, 0, open.stdout);
    assert.deepEqual(parse(open.stdout), BRIDGE_RESULT);
  }
  // excludeNamespaces replaces the default list.
  const custom = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy' }),
    netConf({ agentSocket: agent.socketPath, kubeconfig, excludeNamespaces: ['plain'] }),
  );
  assert.equal(custom.exitCode, 0, custom.stdout);
  assert.deepEqual(agent.calls, []);
});

test('a kubeconfig that is missing, or names a plain-HTTP server, fails ADD closed (code 11) naming the file', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const missing = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy' }),
    netConf({ agentSocket: agent.socketPath, kubeconfig: join(dir, 'absent') }),
  );
  assert.equal((parse(missing.stdout) as { code: number }).code, 11);
  assert.match((parse(missing.stdout) as { msg: string }).msg, /kubeconfig .*absent: .*ENOENT/);
  const plain = await kubeconfigFile(dir, 'http://127.0.0.1:8080');
  const http = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy' }),
    netConf({ agentSocket: agent.socketPath, kubeconfig: plain }),
  );
  assert.equal((parse(http.stdout) as { code: number }).code, 11);
  assert.match((parse(http.stdout) as { msg: string }).msg, /field server must be https/);
  assert.deepEqual(agent.calls, []);
});

test('without a kubeconfig the agent is asked for every pod outside excluded namespaces', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const out = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy', uid: 'u1' }),
    netConf({ agentSocket: agent.socketPath }),
  );
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(agent.calls.length, 1);
});

test('ADD without K8S_* args (not a pod) passes prevResult through without the API or agent', async (t) => {
  const dir = await socketDir(t);
  const out = await runPluginBin(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    netConf({ agentSocket: join(dir, 'a.sock'), kubeconfig: join(dir, 'b') }),
  );
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
});
