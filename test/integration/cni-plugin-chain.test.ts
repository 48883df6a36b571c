import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { cniAdd, cniDel, podIpv4, type CniAttachment } from '../../local/src/net/cni.ts';
import { addNetns, deleteNetns, netnsPath } from '../../local/src/net/netns.ts';
import { needsNetwork, withTopology } from '../../local/testing/network.ts';
import { CNI_CONFLIST_NAME } from '../../local/src/net/topology.ts';
import { buildPlugin, PLUGIN_BIN, socketDir, startFakeAgent, startFakeApi } from '../../cni/testing/plugin-harness.ts';

before(buildPlugin);

function attachment(netns: string, containerId: string, namespace: string, name: string): CniAttachment {
  return {
    containerId,
    netns: netnsPath(netns),
    ifName: 'eth0',
    args: { K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name, K8S_POD_INFRA_CONTAINER_ID: containerId, K8S_POD_UID: `uid-${name}` },
  };
}

test('the local runtime chains bridge + ambit-cni in the node netns: bridge result passed through, ambient pods enrolled', async (t) => {
  if (!needsNetwork(t)) return;
  // Prefix ambit-tcni<pid>-: everything the topology and this test create is named with it and removed after.
  const { topology, log } = await withTopology(t, 'cni', 1, [dirname(PLUGIN_BIN)]);
  const [node] = topology.nodes;
  assert.ok(node);
  const dir = await socketDir(t);
  const api = await startFakeApi(t, dir, {
    namespaces: { plain: {}, mesh: { 'istio.io/dataplane-mode': 'ambient' } },
    pods: [
      { namespace: 'plain', name: 'legacy', uid: 'uid-legacy' },
      { namespace: 'mesh', name: 'web', uid: 'uid-web' },
    ],
  });
  const agent = await startFakeAgent(t, dir);
  // Unix sockets live in the file system, not the network namespace: the plugin reaches them from the node netns.
  const file = join(node.cniConfDir, CNI_CONFLIST_NAME);
  const conf = JSON.parse(await readFile(file, 'utf8')) as { plugins: unknown[] };
  conf.plugins.push({ type: 'ambit-cni', agentSocket: agent.socketPath, apiSocket: api.socketPath, timeoutMs: 5000 });
  await writeFile(file, JSON.stringify(conf, null, 2));

  const plainNs = `${topology.prefix}pod-plain`;
  const meshNs = `${topology.prefix}pod-mesh`;
  await addNetns(plainNs);
  t.after(() => deleteNetns(plainNs));
  await addNetns(meshNs);
  t.after(() => deleteNetns(meshNs));

  const plain = attachment(plainNs, 'c0ffee11', 'plain', 'legacy');
  const result = await cniAdd(node, plain, log);
  assert.equal(podIpv4(result), '10.244.1.2');
  assert.ok(result.interfaces.some((i) => i.name === 'eth0' && i.sandbox === netnsPath(plainNs)));
  assert.equal(agent.calls.length, 0, 'a non-ambient pod never reaches the agent');

  const mesh = attachment(meshNs, 'c0ffee12', 'mesh', 'web');
  const meshResult = await cniAdd(node, mesh, log);
  assert.equal(podIpv4(meshResult), '10.244.1.3');
  assert.deepEqual(agent.calls.map((c) => [c.path, c.body]), [
    ['/v1/cni/add', { podUid: 'uid-web', podName: 'web', podNamespace: 'mesh', netns: netnsPath(meshNs), containerId: 'c0ffee12', ifName: 'eth0', ips: ['10.244.1.3'] }],
  ]);

  await cniDel(node, plain, log);
  await cniDel(node, mesh, log);
  await cniDel(node, mesh, log);
  assert.deepEqual(agent.calls.slice(1).map((c) => c.path), ['/v1/cni/del', '/v1/cni/del', '/v1/cni/del']);
});
