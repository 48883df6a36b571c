// The node agent's CNI server, end to end: the real agent in-process against the local cluster's API server (TLS and
// a token, through client-node), a stand-in ztunnel on the ZDS socket, and real network namespaces where the capture
// rules are checked with nft.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parseStateFile } from '../../cni/src/agent/agent-state.ts';
import { captureRulesInstalled, installCaptureRules } from '../../cni/src/agent/capture-rules.ts';
import { addBody, addPodNetns, cniCall, podIp } from '../../cni/testing/agent-harness.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix, waitUntilInNetns } from '../../cni/testing/capture-netns.ts';
import { connectFakeZtunnel, summary, type FakeZtunnel } from '../../cni/testing/fake-ztunnel.ts';
import { buildPlugin, BRIDGE_RESULT, netConf, podEnv, runPluginBin } from '../../cni/testing/plugin-harness.ts';
import { createAgentHarness, type AgentHarness } from './helpers/agent-harness.ts';

const ADD = '/v1/cni/add';
const DEL = '/v1/cni/del';
const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagent');
let h: AgentHarness;
let zt: FakeZtunnel | undefined;

async function statePods(): Promise<string[]> {
  try {
    return parseStateFile(await readFile(h.stateFile, 'utf8')).map((p) => `${p.namespace}/${p.name}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

before(async () => {
  h = await createAgentHarness();
  h.objects.namespace('mesh', { 'istio.io/dataplane-mode': 'ambient' });
  h.objects.namespace('plain');
  await h.start({ ztunnelAckTimeoutMs: 1000 });
});

after(async () => {
  await zt?.close();
  await h.close();
  await fx.cleanup();
  if (isRoot) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

test('bad request bodies get 400 naming the field; other paths 404, other methods 405', async () => {
  const good = { podName: 'p', podNamespace: 'mesh', netns: '/run/netns/x', containerId: 'c', ifName: 'eth0', ips: ['10.0.0.1'] };
  const cases: [unknown, RegExp][] = [
    ['{not json', /body is not JSON/],
    [[1, 2], /body must be a JSON object/],
    [{ ...good, podName: undefined }, /field podName must be a non-empty string/],
    [{ ...good, podNamespace: 7 }, /field podNamespace must be a non-empty string/],
    [{ ...good, netns: 'relative/path' }, /field netns must be an absolute path/],
    [{ ...good, containerId: '' }, /field containerId must be a non-empty string/],
    [{ ...good, ifName: undefined }, /field ifName/],
    [{ ...good, ips: '10.0.0.1' }, /field ips must be a list/],
    [{ ...good, ips: ['10.0.0.1/24'] }, /field ips\[0\] must be an IP address/],
    [{ ...good, podUid: 5 }, /field podUid/],
  ];
  for (const [body, message] of cases) {
    const res = await cniCall(h.cniSocket, ADD, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(String(res.body['message']), message);
  }
  const del = await cniCall(h.cniSocket, DEL, { podName: 'p' });
  assert.equal(del.status, 400);
  assert.match(String(del.body['message']), /del request: field containerId must be a non-empty string/);

  const unknown = await cniCall(h.cniSocket, '/v1/cni/check', good);
  assert.equal(unknown.status, 404);
  assert.match(String(unknown.body['message']), /no such path/);
  const wrongMethod = await cniCall(h.cniSocket, ADD, undefined, 'GET');
  assert.equal(wrongMethod.status, 405);
});

test('a pod missing from the API gets 404 naming it; a uid mismatch 409; a non-ambient pod 200 untouched', async () => {
  const missing = await cniCall(h.cniSocket, ADD, addBody({ name: 'ghost', namespace: 'mesh' }, '/run/netns/none', podIp(99)));
  assert.equal(missing.status, 404);
  assert.match(String(missing.body['message']), /pod mesh\/ghost/);

  const uid = h.objects.pod({ name: 'renamed', namespace: 'mesh' });
  const mismatch = await cniCall(
    h.cniSocket,
    ADD,
    addBody({ name: 'renamed', namespace: 'mesh', uid: 'uid-old' }, '/run/netns/none', podIp(98)),
  );
  assert.equal(mismatch.status, 409);
  assert.match(String(mismatch.body['message']), new RegExp(`uid-old.*${uid}`));

  // Not ambient: the agent answers 200 without touching the namespace (the path does not even exist).
  h.objects.pod({ name: 'legacy', namespace: 'plain' });
  const plain = await cniCall(h.cniSocket, ADD, addBody({ name: 'legacy', namespace: 'plain' }, '/run/netns/does-not-exist', podIp(97)));
  assert.deepEqual(plain, { status: 200, body: {} });
  assert.deepEqual(await statePods(), []);
});

test('ADD with no ztunnel connected: 503 naming the pod, and no capture rules left behind', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const netns = addPodNetns(fx, 'down', podIp(10));
  const uid = h.objects.pod({ name: 'down', namespace: 'mesh' });
  // Rules from an earlier attempt must go too: no pod may stay redirected to listeners that do not exist.
  await installCaptureRules(netns);
  const res = await cniCall(h.cniSocket, ADD, addBody({ name: 'down', namespace: 'mesh', uid }, netns, podIp(10)));
  assert.equal(res.status, 503);
  assert.match(String(res.body['message']), /pod mesh\/down: ztunnel not connected/);
  assert.equal(await captureRulesInstalled(netns), false);
  assert.deepEqual(await statePods(), []);
});

test('ADD: rules installed, ztunnel told and acked, state persisted, 200', async (t) => {
  if (!canRunCaptureTests(t)) return;
  zt = await connectFakeZtunnel(h.ztunnelSocket);
  await zt.waitFor((m) => m.type === 'snapshot-sent');
  const netns = addPodNetns(fx, 'web', podIp(11));
  const uid = h.objects.pod({ name: 'web', namespace: 'mesh', serviceAccount: 'web-sa' });
  const res = await cniCall(h.cniSocket, ADD, addBody({ name: 'web', namespace: 'mesh' }, netns, podIp(11), 'sandbox-web'));
  assert.deepEqual(res, { status: 200, body: {} });
  assert.equal(await captureRulesInstalled(netns), true);
  assert.deepEqual(summary(zt.messages), ['snapshot-sent', 'add mesh/web']);
  const add = zt.messages[1];
  assert.ok(add?.type === 'add');
  // The uid comes from the API when the runtime gave none; ztunnel gets exactly the ZDS fields.
  assert.deepEqual(add.pod, { uid, name: 'web', namespace: 'mesh', serviceAccount: 'web-sa', netns, ips: [podIp(11)] });
  const saved = parseStateFile(await readFile(h.stateFile, 'utf8'));
  assert.deepEqual(saved, [{ ...add.pod, containerId: 'sandbox-web' }]);
  assert.equal((await stat(h.stateFile)).mode & 0o777, 0o600, 'the state file lists every pod of the node: root only');
});

test('ADD that ztunnel refuses: 502 with its error, rules removed, nothing persisted', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined, 'needs the connected ztunnel of the previous test');
  const netns = addPodNetns(fx, 'refused', podIp(12));
  const uid = h.objects.pod({ name: 'refused', namespace: 'mesh' });
  zt.reply = (m) => (m.type === 'add' ? { error: 'cannot open netns: EPERM' } : 'ack');
  try {
    const res = await cniCall(h.cniSocket, ADD, addBody({ name: 'refused', namespace: 'mesh' }, netns, podIp(12)));
    assert.equal(res.status, 502);
    assert.match(String(res.body['message']), /pod mesh\/refused: ztunnel error: .*cannot open netns: EPERM/);
  } finally {
    zt.reply = () => 'ack';
  }
  assert.equal(await captureRulesInstalled(netns), false);
  assert.deepEqual(await statePods(), ['mesh/web']);
  // The failed add is undone on ztunnel's side too.
  await zt.waitFor((m) => m.type === 'del' && m.uid === uid);
});

test('ADD that ztunnel never acks: 504 timeout, rules removed', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const netns = addPodNetns(fx, 'slow', podIp(13));
  h.objects.pod({ name: 'slow', namespace: 'mesh' });
  zt.reply = (m) => (m.type === 'add' ? 'silent' : 'ack');
  try {
    const res = await cniCall(h.cniSocket, ADD, addBody({ name: 'slow', namespace: 'mesh' }, netns, podIp(13)));
    assert.equal(res.status, 504);
    assert.match(String(res.body['message']), /pod mesh\/slow: timeout: ztunnel did not ack add of pod mesh\/slow within 1000 ms/);
  } finally {
    zt.reply = () => 'ack';
  }
  assert.equal(await captureRulesInstalled(netns), false);
  assert.deepEqual(await statePods(), ['mesh/web']);
});

test('DEL releases the pod (rules removed, ztunnel told, state dropped) and is idempotent', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const before = zt.messages.length;
  const body = { containerId: 'sandbox-web', podName: 'web', podNamespace: 'mesh' };
  assert.deepEqual(await cniCall(h.cniSocket, DEL, body), { status: 200, body: {} });
  assert.equal(await captureRulesInstalled(fx.path('web')), false);
  assert.deepEqual(summary(zt.messages.slice(before)), [`del ${h.objects.uid('mesh', 'web') ?? ''}`]);
  assert.deepEqual(await statePods(), []);
  // Again, and for a sandbox never seen: 200, and ztunnel hears nothing more.
  assert.deepEqual(await cniCall(h.cniSocket, DEL, body), { status: 200, body: {} });
  assert.deepEqual(await cniCall(h.cniSocket, DEL, { containerId: 'never-seen' }), { status: 200, body: {} });
  assert.equal(zt.messages.length, before + 1);
});

test('DEL with the network namespace already gone: 200, ztunnel told, state dropped', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const netns = addPodNetns(fx, 'gone', podIp(14));
  const uid = h.objects.pod({ name: 'gone', namespace: 'mesh' });
  assert.equal(
    (await cniCall(h.cniSocket, ADD, addBody({ name: 'gone', namespace: 'mesh' }, netns, podIp(14), 'sandbox-gone'))).status,
    200,
  );
  execFileSync('ip', ['netns', 'delete', fx.name('gone')]);
  assert.deepEqual(await cniCall(h.cniSocket, DEL, { containerId: 'sandbox-gone', podName: 'gone', podNamespace: 'mesh' }), {
    status: 200,
    body: {},
  });
  await zt.waitFor((m) => m.type === 'del' && m.uid === uid);
  assert.deepEqual(await statePods(), []);
});

test('ADD with a /proc/PID/ns/net path captures that namespace', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  addPodNetns(fx, 'procpath', podIp(15));
  const sleeper = fx.spawn('procpath', ['sleep', '600']);
  const netns = await waitUntilInNetns(sleeper.pid, fx.path('procpath'));
  h.objects.pod({ name: 'procpath', namespace: 'mesh' });
  const res = await cniCall(h.cniSocket, ADD, addBody({ name: 'procpath', namespace: 'mesh' }, netns, podIp(15), 'sandbox-procpath'));
  assert.deepEqual(res, { status: 200, body: {} });
  assert.equal(await captureRulesInstalled(fx.name('procpath')), true, 'the rules are in the named namespace the process lives in');
  const add = await zt.waitFor((m) => m.type === 'add' && m.pod.name === 'procpath');
  assert.ok(add.type === 'add' && add.pod.netns === netns);
  assert.equal((await cniCall(h.cniSocket, DEL, { containerId: 'sandbox-procpath' })).status, 200);
  assert.equal(await captureRulesInstalled(fx.name('procpath')), false);
});

test('the built ambit-cni plugin against the real agent: ADD captures, DEL releases, no ztunnel is code 11', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  await buildPlugin();
  const netns = addPodNetns(fx, 'chained', podIp(16));
  const uid = h.objects.pod({ name: 'chained', namespace: 'mesh' });
  const pod = { namespace: 'mesh', name: 'chained', uid };
  // The agent runs the plugin logic (the C front end's exec) and answers membership itself; the kubeconfig is what
  // the Node fallback would read.
  const conf = netConf({ agentSocket: h.cniSocket, kubeconfig: h.api.writeKubeconfig(join(h.dir, 'kubeconfig')) });
  const add = await runPluginBin(podEnv('ADD', pod, { CNI_NETNS: netns }), conf);
  assert.equal(add.exitCode, 0, add.stdout + add.stderr);
  assert.deepEqual(JSON.parse(add.stdout), BRIDGE_RESULT);
  assert.equal(await captureRulesInstalled(netns), true);
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === uid);

  const del = await runPluginBin(podEnv('DEL', pod, { CNI_NETNS: netns }), conf);
  assert.equal(del.exitCode, 0, del.stdout + del.stderr);
  assert.equal(await captureRulesInstalled(netns), false);
  await zt.waitFor((m) => m.type === 'del' && m.uid === uid);

  await zt.close();
  zt = undefined;
  await waitDisconnected();
  const refused = await runPluginBin(podEnv('ADD', pod, { CNI_NETNS: netns }), conf);
  assert.equal(refused.exitCode, 1);
  const error = JSON.parse(refused.stdout) as { code: number; msg: string };
  assert.equal(error.code, 11);
  assert.match(error.msg, /HTTP 503: pod mesh\/chained: ztunnel not connected/);
  assert.equal(await captureRulesInstalled(netns), false);
});

async function waitDisconnected(): Promise<void> {
  await eventually(() => assert.equal(h.agent().ztunnelConnected(), false));
}
