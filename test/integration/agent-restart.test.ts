// What survives an agent restart and a ztunnel reconnect: the state file is reloaded and replayed to ztunnel on
// hello (adds, then snapshot-sent), capture rules stay in the pods, and entries whose pod or namespace went away
// while the agent was down are dropped.
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parseStateFile, type EnrolledPod } from '../../cni/src/agent/agent-state.ts';
import { captureRulesInstalled, installCaptureRules } from '../../cni/src/agent/capture-rules.ts';
import { addBody, addPodNetns, cniCall, podIp } from '../../cni/testing/agent-harness.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix } from '../../cni/testing/capture-netns.ts';
import { connectFakeZtunnel, summary, type FakeZtunnel } from '../../cni/testing/fake-ztunnel.ts';
import { createAgentHarness, type AgentHarness } from './helpers/agent-harness.ts';

const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagent');
const ztunnels: FakeZtunnel[] = [];
let h: AgentHarness;

async function ztunnel(): Promise<FakeZtunnel> {
  const zt = await connectFakeZtunnel(h.ztunnelSocket);
  ztunnels.push(zt);
  return zt;
}

async function stateUids(): Promise<string[]> {
  return parseStateFile(await readFile(h.stateFile, 'utf8'))
    .map((p) => p.uid)
    .sort();
}

before(async () => {
  h = await createAgentHarness();
  h.objects.namespace('mesh', { 'istio.io/dataplane-mode': 'ambient' });
});

after(async () => {
  for (const zt of ztunnels) await zt.close();
  await h.close();
  await fx.cleanup();
  if (isRoot) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

test('an agent restart keeps the state, leaves the rules in place and replays the pods on ztunnel hello', async (t) => {
  if (!canRunCaptureTests(t)) return;
  await h.start();
  const zt1 = await ztunnel();
  await zt1.waitFor((m) => m.type === 'snapshot-sent');
  const netns = addPodNetns(fx, 'kept', podIp(31));
  const kept = h.objects.pod({ name: 'kept', namespace: 'mesh' });
  assert.equal(
    (await cniCall(h.cniSocket, '/v1/cni/add', addBody({ name: 'kept', namespace: 'mesh' }, netns, podIp(31), 'sandbox-kept'))).status,
    200,
  );
  // The pod now runs, as the API reports once the sandbox is up.
  h.objects.pod({ name: 'kept', namespace: 'mesh', ip: podIp(31) });

  await h.stop();
  await eventually(() => assert.ok(zt1.closed(), 'the agent closes the ztunnel connection when it stops'));
  assert.equal(await captureRulesInstalled(netns), true, 'capture outlives the agent');
  assert.deepEqual(await stateUids(), [kept]);

  await h.start();
  const zt2 = await ztunnel();
  await zt2.waitFor((m) => m.type === 'snapshot-sent');
  assert.deepEqual(summary(zt2.messages), ['add mesh/kept', 'snapshot-sent']);
  const add = zt2.messages[0];
  assert.ok(add?.type === 'add');
  assert.deepEqual(add.pod, { uid: kept, name: 'kept', namespace: 'mesh', serviceAccount: 'default', netns, ips: [podIp(31)] });
  assert.equal(await captureRulesInstalled(netns), true);
  // The first lists do not drop it: its pod and namespace are still there.
  await eventually(() => assert.ok(h.agent().synced()));
  assert.deepEqual(await stateUids(), [kept]);
});

test('a second ztunnel (rolling update) gets the whole snapshot while the first stays connected; the first leaving releases nothing', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const [, old] = ztunnels;
  assert.ok(old !== undefined && !old.closed(), 'needs the connected ztunnel of the previous test');
  const fresh = await ztunnel();
  await fresh.waitFor((m) => m.type === 'snapshot-sent');
  assert.deepEqual(summary(fresh.messages), ['add mesh/kept', 'snapshot-sent']);
  assert.equal(old.closed(), false, 'the old ztunnel stays connected: it drains and leaves by itself (contract 7)');
  // The old one leaves: the pod stays captured, and the new one alone serves it.
  await old.close();
  assert.ok(h.agent().ztunnelConnected());
  assert.equal(await captureRulesInstalled(fx.path('kept')), true, 'a ztunnel leaving does not release its pods');
  // New work goes to the connection that is left, and the reloaded enrolment is released by its (persisted) sandbox id.
  assert.equal((await cniCall(h.cniSocket, '/v1/cni/del', { containerId: 'sandbox-kept' })).status, 200);
  const kept = h.objects.uid('mesh', 'kept');
  await fresh.waitFor((m) => m.type === 'del' && m.uid === kept);
  assert.equal(await captureRulesInstalled(fx.path('kept')), false);
  // The pod goes, as after a real sandbox teardown (otherwise, still running and ambient, it would be re-enrolled).
  h.objects.deletePod('mesh', 'kept');
});

test('at start, entries whose pod is gone or whose namespace is gone are dropped; the rest is replayed', async (t) => {
  if (!canRunCaptureTests(t)) return;
  await h.stop();
  const live = addPodNetns(fx, 'live', podIp(32));
  const orphan = addPodNetns(fx, 'orphan', podIp(33));
  await installCaptureRules(live);
  const liveUid = h.objects.pod({ name: 'live', namespace: 'mesh', ip: podIp(32) });
  // Terminating, so the label-driven side does not look for it again.
  const noNetnsUid = h.objects.pod({ name: 'nonetns', namespace: 'mesh', ip: podIp(34) });
  h.objects.terminatePod('mesh', 'nonetns');
  const uids: Record<string, string> = { live: liveUid, nonetns: noNetnsUid, orphan: 'uid-orphan' };
  const entry = (name: string, netns: string, n: number): EnrolledPod => ({
    uid: uids[name] ?? '',
    name,
    namespace: 'mesh',
    serviceAccount: 'default',
    netns,
    ips: [podIp(n)],
    containerId: `sandbox-${name}`,
  });
  await mkdir(dirname(h.stateFile), { recursive: true });
  await writeFile(
    h.stateFile,
    JSON.stringify({
      version: 1,
      pods: [
        entry('live', live, 32),
        entry('orphan', orphan, 33), // no such pod in the API any more
        entry('nonetns', `/run/netns/${fx.prefix}never-existed`, 34), // its sandbox died while the agent was away
      ],
    }),
  );

  await h.start();
  await eventually(async () => assert.deepEqual(await stateUids(), [liveUid]));
  const zt = await ztunnel();
  await zt.waitFor((m) => m.type === 'snapshot-sent');
  assert.deepEqual(summary(zt.messages), ['add mesh/live', 'snapshot-sent']);
  assert.equal(await captureRulesInstalled(live), true);
});
