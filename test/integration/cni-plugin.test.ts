// The built ambit-cni plugin deciding membership as its Node fallback does when the agent cannot answer: it reads the
// pod and its namespace from the local cluster's API server with the kubeconfig named in its conflist entry (TLS, a
// token), and hands ambient pods to a stand-in agent.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createServingCert } from '../../local/src/api/self-signed-cert.ts';
import { writeKubeconfig } from '../../local/src/runner/kubeconfig.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { BRIDGE_RESULT, buildPlugin, netConf, podEnv, runPluginBin, socketDir, startFakeAgent } from '../../cni/testing/plugin-harness.ts';
import { Objects } from './helpers/agent-harness.ts';
import { LocalApi } from './helpers/local-api.ts';

const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };
const store = new ObjectStore({ namespaces: ['default', 'kube-system'] });
const api = new LocalApi(store);
const objects = new Objects(store);
let uids: Record<string, string> = {};

before(async () => {
  await buildPlugin();
  await api.start();
  objects.namespace('mesh', AMBIENT);
  objects.namespace('plain');
  uids = {
    'web-1': objects.pod({ namespace: 'mesh', name: 'web-1' }),
    'opted-out': objects.pod({ namespace: 'mesh', name: 'opted-out', labels: { 'istio.io/dataplane-mode': 'none' } }),
    sidecar: objects.pod({ namespace: 'mesh', name: 'sidecar', annotations: { 'sidecar.istio.io/status': '{}' } }),
    legacy: objects.pod({ namespace: 'plain', name: 'legacy' }),
    'opted-in': objects.pod({ namespace: 'plain', name: 'opted-in', labels: AMBIENT }),
  };
});

after(() => api.stop());

function parse(stdout: string): unknown {
  return JSON.parse(stdout) as unknown;
}

test('ADD of a non-ambient pod returns prevResult unchanged without the agent (agent socket absent)', async (t) => {
  const dir = await socketDir(t);
  const conf = netConf({ agentSocket: join(dir, 'no-agent.sock'), kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'legacy' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
});

test('ADD of a pod in an ambient namespace returns only after the agent answered 200, with the pod in the request', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir, { status: 200, delayMs: 300 });
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
  assert.equal(agent.calls.length, 1);
  const [call] = agent.calls;
  assert.ok(call);
  assert.equal(call.path, '/v1/cni/add');
  assert.deepEqual(call.body, {
    podUid: uids['web-1'],
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
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'opted-in', uid: 'uid-from-args' }), conf);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal((agent.calls[0]?.body as { podUid?: string } | undefined)?.podUid, 'uid-from-args');
});

test('a pod labelled none in an ambient namespace, or sidecar-injected, is not enrolled', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  for (const name of ['opted-out', 'sidecar']) {
    const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name }), conf);
    assert.equal(out.exitCode, 0, out.stdout);
    assert.deepEqual(parse(out.stdout), BRIDGE_RESULT);
  }
  assert.deepEqual(agent.calls, []);
});

test('the agent answering 500 fails ADD with code 11 naming its message', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir, { status: 500, body: '{"message":"no ztunnel connection"}' });
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), conf);
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
  const agent = await startFakeAgent(t, dir, { status: 200, delayMs: 5000 });
  const started = Date.now();
  const conf = netConf({ agentSocket: agent.socketPath, kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')), timeoutMs: 400 });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), conf);
  assert.notEqual(out.exitCode, 0);
  const err = parse(out.stdout) as { code: number; msg: string };
  assert.equal(err.code, 11);
  assert.match(err.msg, /no answer within \d+ ms/);
  assert.ok(out.exitedAt - started < 3000, `took ${out.exitedAt - started} ms`);
});

test('an ambient pod with the agent down fails closed (code 11)', async (t) => {
  const dir = await socketDir(t);
  const conf = netConf({ agentSocket: join(dir, 'gone.sock'), kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'web-1' }), conf);
  assert.notEqual(out.exitCode, 0);
  assert.equal((parse(out.stdout) as { code: number }).code, 11);
});

test('a pod the API does not know fails closed', async (t) => {
  const dir = await socketDir(t);
  const conf = netConf({ agentSocket: join(dir, 'none.sock'), kubeconfig: api.writeKubeconfig(join(dir, 'kubeconfig')) });
  const out = await runPluginBin(podEnv('ADD', { namespace: 'plain', name: 'ghost' }), conf);
  assert.notEqual(out.exitCode, 0);
  assert.match((parse(out.stdout) as { msg: string }).msg, /HTTP 404/);
});

test('the kubeconfig is what authenticates: a wrong token is HTTP 401, another CA a TLS failure, both code 11', async (t) => {
  const dir = await socketDir(t);
  const agent = await startFakeAgent(t, dir);
  const wrongToken = join(dir, 'wrong-token');
  writeKubeconfig(wrongToken, 'test', api.url, 'not-the-token', api.cert.certPem);
  const out = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy' }),
    netConf({ agentSocket: agent.socketPath, kubeconfig: wrongToken }),
  );
  assert.equal((parse(out.stdout) as { code: number }).code, 11);
  assert.match((parse(out.stdout) as { msg: string }).msg, /HTTP 401/);

  const otherCa = join(dir, 'other-ca');
  writeKubeconfig(otherCa, 'test', api.url, api.token, (await createServingCert()).certPem);
  const tls = await runPluginBin(
    podEnv('ADD', { namespace: 'plain', name: 'legacy' }),
    netConf({ agentSocket: agent.socketPath, kubeconfig: otherCa }),
  );
  assert.equal((parse(tls.stdout) as { code: number }).code, 11);
  assert.match((parse(tls.stdout) as { msg: string }).msg, /certificate|self.signed|verify/i);
  assert.deepEqual(agent.calls, []);
});
