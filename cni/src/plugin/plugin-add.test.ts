import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { BRIDGE_RESULT, buildPlugin, netConf, podEnv, runPluginBin, socketDir, startFakeAgent, startFakeApi, type ApiObjects } from '../../testing/plugin-harness.ts';

before(buildPlugin);

const OBJECTS: ApiObjects = {
  namespaces: { mesh: { 'istio.io/dataplane-mode': 'ambient' }, plain: {}, 'kube-system': {} },
  pods: [
    { namespace: 'mesh', name: 'web-1', uid: 'uid-web-1' },
    { namespace: 'mesh', name: 'opted-out', uid: 'uid-out', labels: { 'istio.io/dataplane-mode': 'none' } },
    { namespace: 'mesh', name: 'sidecar', uid: 'uid-sc', annotations: { 'sidecar.istio.io/status': '{}' } },
    { namespace: 'plain', name: 'legacy', uid: 'uid-legacy' },
    { namespace: 'plain', name: 'opted-in', uid: 'uid-in', labels: { 'istio.io/dataplane-mode': 'ambient' } },
  ],
};

function parse(stdout: string): unknown {
  return JSON.parse(stdout) as unknown;
}

test('VERSION prints the supported versions', async () => {
  const out = await runPluginBin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.equal(out.exitCode, 0);
  assert.equal(out.stdout.trim(), '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}');
});

test('ADD of a non-ambient pod returns prevResult unchanged without the agent (agent socket absent)', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const conf = netConf({ agentSocket: join(dir, 'no-agent.sock'), apiSocket: api.socketPath });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
  assert.deepEqual([...api.requests].sort(), ['/api/v1/namespaces/plain', '/api/v1/namespaces/plain/pods/legacy']);
});

test('ADD of a pod in an ambient namespace returns only after the agent answered 200, with the pod in the request', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const agent = await startFakeAgent(t, dir, { status: 200, delayMs: 300 });
  const conf = netConf({ agentSocket: agent.socketPath, apiSocket: api.socketPath });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
  assert.equal(agent.calls.length, 1);
  const [call] = agent.calls;
  assert.ok(call);
  assert.equal(call.path, '/v1/cni/add');
  assert.deepEqual(call.body, {
    podUid: 'uid-web-1',
    podName: 'web-1',
    podNamespace: 'mesh',
    netns: '/run/netns/ambit-tcni-pod',
    containerId: 'c0ffee',
    ifName: 'eth0',
    ips: ['10.244.1.7'],
  });
  assert.ok(call.answeredAt !== undefined && out.exitedAt >= call.answeredAt, 'the plugin exited before the agent answered');
});

test('the pod UID from CNI_ARGS is what the agent gets, and a pod label ambient enrols it in a plain namespace', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath, apiSocket: api.socketPath });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'opted-in', uid: 'uid-from-args' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal((agent.calls[0]?.body as { podUid?: string } | undefined)?.podUid, 'uid-from-args');
});

test('a pod labelled none in an ambient namespace, or sidecar-injected, is not enrolled', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath, apiSocket: api.socketPath });
  for (const name of ['opted-out', 'sidecar']) {
    const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name }), conf);
    assert.equal(out.exitCode, 0, out.stdout);
    assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
  }
  assert.deepEqual(agent.calls, []);
});

test('the agent answering 500 fails ADD with code 11 naming its message', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const agent = await startFakeAgent(t, dir, { status: 500, body: '{"message":"no ztunnel connection"}' });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), netConf({ agentSocket: agent.socketPath, apiSocket: api.socketPath }));
  assert.notEqual(out.exitCode, 0);
  const err = parse(out.stdout) as { cniVersion: string; code: number; msg: string; details: string };
  assert.equal(err.cniVersion, '1.0.0');
  assert.equal(err.code, 11);
  assert.match(err.msg, /HTTP 500: no ztunnel connection/);
  assert.match(err.msg, /mesh\/web-1/);
  assert.equal(typeof err.details, 'string');
});

test('an agent slower than timeoutMs fails ADD with code 11 within the bound', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const agent = await startFakeAgent(t, dir, { status: 200, delayMs: 5000 });
  const started = Date.now();
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), netConf({ agentSocket: agent.socketPath, apiSocket: api.socketPath, timeoutMs: 400 }));
  assert.notEqual(out.exitCode, 0);
  const err = parse(out.stdout) as { code: number; msg: string };
  assert.equal(err.code, 11);
  assert.match(err.msg, /no answer within \d+ ms/);
  assert.ok(out.exitedAt - started < 3000, `took ${out.exitedAt - started} ms`);
});

test('an ambient pod with the agent down fails closed (code 11)', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), netConf({ agentSocket: join(dir, 'gone.sock'), apiSocket: api.socketPath }));
  assert.notEqual(out.exitCode, 0);
  assert.equal((parse(out.stdout) as { code: number }).code, 11);
});

test('API unreachable: ADD fails closed in a normal namespace and passes in an excluded one', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath, apiSocket: join(dir, 'no-api.sock') });
  const closed = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy' }), conf);
  assert.notEqual(closed.exitCode, 0);
  const err = parse(closed.stdout) as { code: number; msg: string };
  assert.equal(err.code, 11);
  assert.match(err.msg, /cannot read (pod plain\/legacy|namespace plain) from the API/);
  for (const ns of ['kube-system', 'ambit-system']) {
    const open = await runPluginBin(podEnv('ADD', { namespace: ns, name: 'coredns' }), conf);
    assert.equal(open.exitCode, 0, open.stdout);
    assert.deepEqual(parse(open.stdout), BRIDGE_RESULT);
  }
  // excludeNamespaces replaces the default list.
  const custom = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy' }), netConf({ agentSocket: agent.socketPath, apiSocket: join(dir, 'no-api.sock'), excludeNamespaces: ['plain'] }));
  assert.equal(custom.exitCode, 0, custom.stdout);
  assert.deepEqual(agent.calls, []);
});

test('a pod the API does not know fails closed', async (t) => {
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, OBJECTS);
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'ghost' }), netConf({ agentSocket: join(dir, 'none.sock'), apiSocket: api.socketPath }));
  assert.notEqual(out.exitCode, 0);
  assert.match((parse(out.stdout) as { msg: string }).msg, /HTTP 404/);
});

test('without apiSocket the agent is asked for every pod outside excluded namespaces', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy', uid: 'u1' }), netConf({ agentSocket: agent.socketPath }));
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(agent.calls.length, 1);
});

test('ADD without K8S_* args (not a pod) passes prevResult through without the API or agent', async (t) => {
  const dir = await socketDir(t);
  const out = await runPluginBin(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    netConf({ agentSocket: join(dir, 'a.sock'), apiSocket: join(dir, 'b.sock') }),
  );
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
});
