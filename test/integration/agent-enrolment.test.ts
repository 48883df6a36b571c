// Label-driven enrolment, end to end: running pods (namespaces with an address and a process, as a sandbox has) join
// and leave the mesh as labels change in the local cluster's API server, found by IP, with the rules checked in their
// namespaces.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parseStateFile } from '../../cni/src/agent/agent-state.ts';
import { captureRulesInstalled } from '../../cni/src/agent/capture-rules.ts';
import { findNetnsByIp } from '../../cni/src/agent/netns-finder.ts';
import { addPodNetns, podIp } from '../../cni/testing/agent-harness.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix } from '../../cni/testing/capture-netns.ts';
import { connectFakeZtunnel, type FakeZtunnel } from '../../cni/testing/fake-ztunnel.ts';
import { createAgentHarness, type AgentHarness, type PodFields } from './helpers/agent-harness.ts';

const AMBIENT = { 'istio.io/dataplane-mode': 'ambient' };
const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagent');
let h: AgentHarness;
let zt: FakeZtunnel | undefined;
/** Addresses the agent looked for a namespace of, in order. */
const netnsLookups: string[] = [];

async function enrolledUids(): Promise<string[]> {
  try {
    return parseStateFile(await readFile(h.stateFile, 'utf8'))
      .map((p) => p.uid)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** A running pod: a namespace holding its IP with a process in it (what the finder reads), and its API object. */
function runningPod(short: string, n: number, fields: Partial<PodFields> = {}): { netns: string; pod: PodFields; uid: string } {
  const netns = addPodNetns(fx, short, podIp(n));
  fx.spawn(short, ['sleep', '600']);
  const pod: PodFields = { name: short, namespace: 'shop', ip: podIp(n), ...fields };
  return { netns, pod, uid: h.objects.pod(pod) };
}

function addsFor(uid: string): number {
  return (zt?.messages ?? []).filter((m) => m.type === 'add' && m.pod.uid === uid).length;
}

before(async () => {
  // A short watch history, so that the test of a change made while the watch was away can outrun it (410 Gone).
  h = await createAgentHarness({ historyLimit: 20 });
  h.objects.namespace('shop');
  await h.start({
    findNetns: (ip) => {
      netnsLookups.push(ip);
      return findNetnsByIp(ip);
    },
  });
  // Generous: two list calls on a loaded 2-core CI machine.
  await eventually(() => assert.ok(h.agent().synced()), 15_000);
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
  const others = [
    h.objects.pod({ name: 'starting', namespace: 'shop' }), // still in CNI ADD: no IP
    h.objects.pod({ name: 'hostnet', namespace: 'shop', ip: podIp(23), hostNetwork: true }),
    h.objects.pod({ name: 'elsewhere', namespace: 'shop', ip: podIp(24), nodeName: 'node2' }),
  ];
  assert.equal(await captureRulesInstalled(cart.netns), false);

  h.objects.namespace('shop', AMBIENT);
  const add = await zt.waitFor((m) => m.type === 'add' && m.pod.uid === cart.uid);
  assert.ok(add.type === 'add');
  assert.deepEqual(add.pod, {
    uid: cart.uid,
    name: 'cart',
    namespace: 'shop',
    serviceAccount: 'cart-sa',
    netns: cart.netns,
    ips: [podIp(21)],
  });
  assert.equal(await captureRulesInstalled(cart.netns), true);
  await eventually(async () => assert.deepEqual(await enrolledUids(), [cart.uid]));
  // The others were reconciled in the same pass and left alone.
  assert.equal(await captureRulesInstalled(optOut.netns), false);
  for (const uid of [optOut.uid, ...others]) assert.equal(addsFor(uid), 0, uid);
});

test('removing the namespace label releases them: rules removed, ztunnel told, state dropped', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined, 'needs the enrolment of the previous test');
  const cart = h.objects.uid('shop', 'cart');
  h.objects.namespace('shop');
  await zt.waitFor((m) => m.type === 'del' && m.uid === cart);
  await eventually(async () => assert.equal(await captureRulesInstalled(fx.path('cart')), false));
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a pod label enrols a pod in an unlabelled namespace; label none on it releases it again', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const cart = h.objects.uid('shop', 'cart');
  assert.ok(cart !== undefined);
  h.objects.pod({ name: 'cart', namespace: 'shop', ip: podIp(21), serviceAccount: 'cart-sa', labels: AMBIENT });
  await eventually(async () => assert.equal(await captureRulesInstalled(fx.path('cart')), true));
  await eventually(async () => assert.deepEqual(await enrolledUids(), [cart]));
  const dels = zt.messages.filter((m) => m.type === 'del').length;
  h.objects.pod({ name: 'cart', namespace: 'shop', ip: podIp(21), labels: { 'istio.io/dataplane-mode': 'none' } });
  await eventually(() => assert.equal(zt?.messages.filter((m) => m.type === 'del').length, dels + 1));
  assert.equal(await captureRulesInstalled(fx.path('cart')), false);
  assert.deepEqual(await enrolledUids(), []);
});

test('deleting an enrolled pod tells ztunnel and drops it from the state', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const doomed = runningPod('doomed', 25, { labels: AMBIENT });
  await eventually(async () => assert.deepEqual(await enrolledUids(), [doomed.uid]));
  h.objects.deletePod('shop', 'doomed');
  await zt.waitFor((m) => m.type === 'del' && m.uid === doomed.uid);
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a pod whose address is in no namespace yet is retried until its namespace appears', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const late = h.objects.pod({ name: 'late', namespace: 'shop', ip: podIp(26), labels: AMBIENT });
  // The agent looks (and fails) at least once before the namespace exists.
  await eventually(() => assert.ok(netnsLookups.includes(podIp(26))));
  assert.equal(addsFor(late), 0);
  const netns = addPodNetns(fx, 'late', podIp(26));
  fx.spawn('late', ['sleep', '600']);
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === late);
  assert.equal(await captureRulesInstalled(netns), true);
  h.objects.deletePod('shop', 'late');
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
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === waiting.uid);
  const types = zt.messages.map((m) => (m.type === 'add' ? m.pod.uid : m.type));
  assert.deepEqual(
    types.slice(0, 2),
    ['snapshot-sent', waiting.uid],
    'the snapshot was empty: the pod was not captured while ztunnel was away',
  );
  assert.equal(await captureRulesInstalled(waiting.netns), true);
  h.objects.deletePod('shop', 'waiting');
  await eventually(async () => assert.deepEqual(await enrolledUids(), []));
});

test('a label change made while the watch was away (410 on return) is found by the relist', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.ok(zt !== undefined);
  const gap = runningPod('gap', 28);
  // The API goes away; the label change, and more changes than the watch history keeps, happen meanwhile.
  await h.api.restart(() => {
    h.objects.namespace('shop', AMBIENT);
    for (let i = 0; i < 25; i++) h.objects.namespace(`filler-${i}`);
  });
  await zt.waitFor((m) => m.type === 'add' && m.pod.uid === gap.uid, 20_000);
  assert.equal(await captureRulesInstalled(gap.netns), true);
});
