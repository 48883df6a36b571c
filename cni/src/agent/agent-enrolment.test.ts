// Label-driven enrolment, end to end: running pods (namespaces with an address and a process, as a sandbox has) join
// and leave the mesh as labels change in the stand-in API, found by IP, with the rules checked in their namespaces.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parseStateFile } from './agent-state.ts';
import { captureRulesInstalled } from './capture-rules.ts';
import { addPodNetns, createAgentHarness, podIp, type AgentHarness } from '../../testing/agent-harness.ts';
import { namespaceObject, podObject, type PodFields } from '../../testing/fake-kube-api.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix } from '../../testing/capture-netns.ts';
import { connectFakeZtunnel, type FakeZtunnel } from '../../testing/fake-ztunnel.ts';

const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };
const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagent');
let h: AgentHarness;
let zt: FakeZtunnel | undefined;

async function enrolledUids(): Promise<string[]> {
  try {
    return parseStateFile(await readFile(h.stateFile, 'utf8')).map((p) => p.uid).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** A running pod: a namespace holding its IP with a process in it (what the finder reads), and its API object. */
function runningPod(short: string, n: number, fields: Partial<PodFields> = {}): { netns: string; pod: PodFields } {
  const netns = addPodNetns(fx, short, podIp(n));
  fx.spawn(short, ['sleep', '600']);
  const pod: PodFields = { name: short, namespace: 'shop', uid: `uid-${short}`, ip: podIp(n), ...fields };
  h.api.put('pods', podObject(pod));
  return { netns, pod };
}

function addsFor(uid: string): number {
  return (zt?.messages ?? []).filter((m) => m.type === 'add' && m.pod.uid === uid).length;
}

before(async () => {
  h = await createAgentHarness();
  h.api.put('namespaces', namespaceObject('shop'));
  await h.start();
  // Generous: two list calls on a loaded 2-core CI machine; the helper saw one slow first sync it could not reproduce.
  await eventually(() => assert.ok(h.agent().synced(), JSON.stringify(h.api.requests)), 15_000);
});

after(async () => {
  await zt?.close();
  await h.close();
  await fx.cleanup();
  if (isRoot) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

test('labelling a namespace enrols its running pods, found by IP; pending, host-network and opted-out pods stay out', async (t) => {
  if (!canRunCaptureTests(t)) return;
  zt = await connectFakeZtunnel(h.ztunnelSocket);
  await zt.waitFor((m) => m.type === 'snapshot-sent');
  const cart = runningPod('cart', 21, { serviceAccount: 'cart-sa' });
  const optOut = runningPod('optout', 22, { labels: { 'istio.io/dataplane-mode': 'none' } });
  h.api.put('pods', podObject({ name: 'starting', namespace: 'shop', uid: 'uid-starting' })); // still in CNI ADD: no IP
  h.api.put('pods', podObject({ name: 'hostnet', namespace: 'shop', uid: 'uid-hostnet', ip: podIp(23), hostNetwork: true }));
  h.api.put('pods', podObject({ name: 'elsewhere', namespace: 'shop', uid: 'uid-elsewhere', ip: podIp(24), nodeName: 'node2' }));
  assert.equal(await captureRulesInstalled(cart.netns), false);

  h.api.put('namespaces', namespaceObject('shop', AMBIENT));
  const add = await zt.waitFor((m) => m.type === 'add' && m.pod.uid === 'uid-cart');
  assert.ok(add.type === 'add');
  assert.deepEqual(add.pod, { uid: 'uid-cart', name: 'cart', namespace: 'shop', serviceAccount: 'cart-sa', netns: cart.netns, ips: [podIp(21)] });
  assert.equal(await captureRulesInstalled(cart.netns), true);
  await eventually(async () => assert.deepEqual(await enrolledUids(), ['uid-cart']));
  // The others were reconciled in the same pass and left alone.
  assert.equal(await captureRulesInstalled(optOut.netns), false);
  for (const uid of ['uid-optout', 'uid-starting', 'uid-hostnet', 'uid-elsewhere']) assert.equal(addsFor(uid), 0, uid);
});

test('removing the namespace label releases them: rules removed, ztunnel told, state dropped', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined, 'needs the enrolment of the previous test');
  h.api.put('namespaces', namespaceObject('shop'));
  await zt.waitFor((m) => m.type === 'del' && m.uid === 'uid-cart');
  await eventually(async () => assert.equal(await captureRulesInstalled(fx.path('cart')), false));
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a pod label enrols a pod in an unlabelled namespace; label none on it releases it again', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const cart = h.api.get('pods', 'shop', 'cart');
  assert.ok(cart !== undefined);
  h.api.put('pods', podObject({ name: 'cart', namespace: 'shop', uid: 'uid-cart', ip: podIp(21), serviceAccount: 'cart-sa', labels: AMBIENT }));
  await eventually(async () => assert.equal(await captureRulesInstalled(fx.path('cart')), true));
  await eventually(async () => assert.deepEqual(await enrolledUids(), ['uid-cart']));
  const dels = zt.messages.filter((m) => m.type === 'del').length;
  h.api.put('pods', podObject({ name: 'cart', namespace: 'shop', uid: 'uid-cart', ip: podIp(21), labels: { 'istio.io/dataplane-mode': 'none' } }));
  await eventually(() => assert.equal(zt?.messages.filter((m) => m.type === 'del').length, dels + 1));
  assert.equal(await captureRulesInstalled(fx.path('cart')), false);
  assert.deepEqual(await enrolledUids(), []);
});

test('deleting an enrolled pod tells ztunnel and drops it from the state', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  runningPod('doomed', 25, { labels: AMBIENT });
  await eventually(async () => assert.deepEqual(await enrolledUids(), ['uid-doomed']));
  h.api.delete('pods', 'shop', 'doomed');
  await zt.waitFor((m) => m.type === 'del' && m.uid === 'uid-doomed');
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a pod whose address is in no namespace yet is retried until its namespace appears', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  h.api.put('pods', podObject({ name: 'late', namespace: 'shop', uid: 'uid-late', ip: podIp(26), labels: AMBIENT }));
  // Let the agent look (and fail) at least once: the watch has delivered the pod when a reconcile could run.
  await eventually(() => assert.ok(h.api.requests.some((r) => r.startsWith('GET /api/v1/pods?watch'))));
  assert.equal(addsFor('uid-late'), 0);
  const netns = addPodNetns(fx, 'late', podIp(26));
  fx.spawn('late', ['sleep', '600']);
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === 'uid-late');
  assert.equal(await captureRulesInstalled(netns), true);
  h.api.delete('pods', 'shop', 'late');
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a pod labelled while no ztunnel is connected is enrolled after the next hello, outside its snapshot', async (t) => {
  if (!canRunCaptureTests(t)) return;
  await zt?.close();
  zt = undefined;
  await eventually(() => assert.equal(h.agent().ztunnelConnected(), false));
  const waiting = runningPod('waiting', 27, { labels: AMBIENT });
  assert.equal(await captureRulesInstalled(waiting.netns), false);
  zt = await connectFakeZtunnel(h.ztunnelSocket);
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === 'uid-waiting');
  const types = zt.messages.map((m) => (m.type === 'add' ? m.pod.uid : m.type));
  assert.deepEqual(types.slice(0, 2), ['snapshot-sent', 'uid-waiting'], 'the snapshot was empty: the pod was not captured while ztunnel was away');
  assert.equal(await captureRulesInstalled(waiting.netns), true);
  h.api.delete('pods', 'shop', 'waiting');
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a label change made while the watch was away (410 on return) is found by the relist', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const gap = runningPod('gap', 28);
  h.api.setDown(true);
  h.api.endWatches();
  h.api.put('namespaces', namespaceObject('shop', AMBIENT));
  h.api.compact();
  const listsBefore = h.api.requests.filter((r) => r.startsWith('GET /api/v1/namespaces?') && !r.includes('watch=')).length;
  h.api.setDown(false);
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === 'uid-gap');
  assert.equal(await captureRulesInstalled(gap.netns), true);
  const listsAfter = h.api.requests.filter((r) => r.startsWith('GET /api/v1/namespaces?') && !r.includes('watch=')).length;
  assert.ok(listsAfter > listsBefore, 'namespaces were relisted');
});
