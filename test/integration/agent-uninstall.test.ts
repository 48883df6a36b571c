// The node agent on SIGTERM: an uninstall (its DaemonSet gone or being deleted) or a restart (anything else), decided
// against the local cluster's API server with the agent's client; and an uninstall's release of every captured pod in
// real pod network namespaces: the capture table and in-pod policy routing gone, ztunnel told, the state empty.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { KubeClient } from '@ambit/core/kube';
import { parseStateFile } from '../../cni/src/agent/agent-state.ts';
import { captureRulesInstalled } from '../../cni/src/agent/capture-rules.ts';
import { daemonSetRemoval } from '../../cni/src/agent/uninstall-check.ts';
import { addBody, addPodNetns, cniCall, podIp, testLogger } from '../../cni/testing/agent-harness.ts';
import { canRunCaptureTests, createCaptureNetnsFixture, namespacesWithPrefix } from '../../cni/testing/capture-netns.ts';
import { connectFakeZtunnel, summary, type FakeZtunnel } from '../../cni/testing/fake-ztunnel.ts';
import { createAgentHarness, type AgentHarness } from './helpers/agent-harness.ts';

const isRoot = process.getuid?.() === 0;
const fx = createCaptureNetnsFixture('tagentun');
let h: AgentHarness;
let zt: FakeZtunnel | undefined;

before(async () => {
  h = await createAgentHarness();
  h.objects.namespace('mesh', { 'istio.io/dataplane-mode': 'ambient' });
  // A cluster where DaemonSets are served (registerKind keeps the built-in type when there is one).
  h.objects.store.types.registerKind('apps/v1', 'DaemonSet', true);
});

after(async () => {
  await zt?.close();
  await h.close();
  await fx.cleanup();
  if (isRoot) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

const DS_TYPE = { apiVersion: 'apps/v1', kind: 'DaemonSet' } as const;

function agentPod(name: string, owner?: { name: string; uid: string }): void {
  h.objects.store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ambit-system',
      ...(owner === undefined
        ? {}
        : { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: owner.name, uid: owner.uid, controller: true }] }),
    },
    spec: { nodeName: 'node1', containers: [{ name: 'node-agent', image: 'ghcr.io/ambit-dev/ambit:0.1.0' }] },
  });
}

function daemonSet(name: string, finalizers: string[] = []): string {
  const ds = h.objects.store.create({
    ...DS_TYPE,
    metadata: { name, namespace: 'ambit-system', finalizers },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
    },
  });
  return ds.metadata.uid ?? '';
}

test('SIGTERM verdict: restart while the DaemonSet exists; uninstall once it is being deleted, gone, or replaced', async () => {
  const client = new KubeClient(h.api.kubeConfig());
  const log = testLogger();
  const dsType = h.objects.store.typeOf(DS_TYPE);

  const uid = daemonSet('ambit-node-agent', ['foregroundDeletion']);
  agentPod('agent-1', { name: 'ambit-node-agent', uid });
  const restart = await daemonSetRemoval(client, 'ambit-system', 'agent-1', log);
  assert.deepEqual(restart, { removing: false, reason: 'DaemonSet ambit-system/ambit-node-agent still exists: a restart or upgrade' });

  // Foreground deletion: the DaemonSet stays, with a deletionTimestamp, until its pods are gone.
  h.objects.store.delete(dsType, 'ambit-system', 'ambit-node-agent', { propagationPolicy: 'Foreground' });
  const deleting = await daemonSetRemoval(client, 'ambit-system', 'agent-1', log);
  assert.equal(deleting.removing, true);
  assert.match(deleting.reason, /^DaemonSet ambit-system\/ambit-node-agent is being deleted since \d{4}-/);

  // Background deletion: the DaemonSet is gone before its pods.
  const cur = h.objects.store.find(dsType, 'ambit-system', 'ambit-node-agent');
  assert.ok(cur !== undefined);
  h.objects.store.update({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
  assert.equal(h.objects.store.find(dsType, 'ambit-system', 'ambit-node-agent'), undefined);
  assert.deepEqual(await daemonSetRemoval(client, 'ambit-system', 'agent-1', log), {
    removing: true,
    reason: 'DaemonSet ambit-system/ambit-node-agent is gone',
  });

  // Deleted and created again (another uid): the old agents' DaemonSet is gone.
  daemonSet('ambit-node-agent');
  assert.deepEqual(await daemonSetRemoval(client, 'ambit-system', 'agent-1', log), {
    removing: true,
    reason: 'DaemonSet ambit-system/ambit-node-agent was deleted (a new one has another uid)',
  });

  // Doubt keeps the pods captured: a pod the API does not have, a pod no DaemonSet controls.
  assert.equal((await daemonSetRemoval(client, 'ambit-system', 'no-such-pod', log)).removing, false);
  agentPod('standalone');
  assert.deepEqual(await daemonSetRemoval(client, 'ambit-system', 'standalone', log), {
    removing: false,
    reason: 'pod ambit-system/standalone is not controlled by a DaemonSet',
  });
});

test('close({ releasePods }) removes the capture from every captured pod, tells ztunnel and empties the state', async (t) => {
  if (!canRunCaptureTests(t)) return;
  await h.start();
  zt = await connectFakeZtunnel(h.ztunnelSocket);
  await zt.waitFor((m) => m.type === 'snapshot-sent');
  const pods = ['web', 'db'].map((name, i) => ({ name, netns: addPodNetns(fx, name, podIp(40 + i)), ip: podIp(40 + i) }));
  for (const p of pods) {
    h.objects.pod({ name: p.name, namespace: 'mesh' });
    const r = await cniCall(h.cniSocket, '/v1/cni/add', addBody({ name: p.name, namespace: 'mesh' }, p.netns, p.ip, `sandbox-${p.name}`));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await captureRulesInstalled(p.netns), true);
    assert.match(execFileSync('nsenter', [`--net=${p.netns}`, 'ip', 'rule'], { encoding: 'utf8' }), /fwmark 0x111\/0xfff lookup 100/);
  }

  await h.agent().close({ releasePods: true });
  for (const p of pods) {
    assert.equal(await captureRulesInstalled(p.netns), false, `${p.name}: no inet ambit table`);
    assert.doesNotMatch(execFileSync('nsenter', [`--net=${p.netns}`, 'ip', 'rule'], { encoding: 'utf8' }), /lookup 100/);
    assert.equal(execFileSync('nsenter', [`--net=${p.netns}`, 'ip', 'route', 'show', 'table', '100'], { encoding: 'utf8' }), '');
  }
  assert.deepEqual(summary(zt.messages).filter((m) => m.startsWith('del')).length, 2, summary(zt.messages).join(', '));
  assert.deepEqual(parseStateFile(await readFile(h.stateFile, 'utf8')), []);
  // The pods' namespaces are untouched otherwise: they keep their address.
  for (const p of pods)
    assert.match(
      execFileSync('nsenter', [`--net=${p.netns}`, 'ip', '-o', 'addr'], { encoding: 'utf8' }),
      new RegExp(p.ip.replaceAll('.', '\\.')),
    );
});
