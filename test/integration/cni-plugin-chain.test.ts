// The local runtime (local/src/net/cni.ts) chaining bridge + ambit-cni in a node's namespace, as its kubelet does: the
// plugin runs inside the node namespace and reads the API as a node does, https://127.0.0.1:NODE_API_PORT of that
// namespace (the node's API forwarder, joined to the API's TLS unix socket) with the node's kubeconfig.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { silentLogger } from '@ambit/core';
import { buildPlugin, PLUGIN_BIN, socketDir, startFakeAgent } from '../../cni/testing/plugin-harness.ts';
import { cniAdd, cniDel, podIpv4, type CniAttachment } from '../../local/src/net/cni.ts';
import { addNetns, deleteNetns, netnsPath } from '../../local/src/net/netns.ts';
import { needsNetwork, withTopology } from '../../local/testing/network.ts';
import { CNI_CONFLIST_NAME } from '../../local/src/net/topology.ts';
import { NODE_API_PORT, startNodeApiForwarder } from '../../local/src/runner/node-api.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { Objects } from './helpers/agent-harness.ts';
import { REPO } from './helpers/ambitctl.ts';
import { LocalApi } from './helpers/local-api.ts';

before(buildPlugin);

function attachment(netns: string, containerId: string, namespace: string, name: string, uid?: string): CniAttachment {
  return {
    containerId,
    netns: netnsPath(netns),
    ifName: 'eth0',
    args: { K8S_POD_NAMESPACE: namespace, K8S_POD_NAME: name, K8S_POD_INFRA_CONTAINER_ID: containerId, K8S_POD_UID: uid ?? `uid-${name}` },
  };
}

test('the local runtime chains bridge + ambit-cni in the node netns: bridge result passed through, ambient pods enrolled', async (t) => {
  if (!needsNetwork(t)) return;
  // Prefix ambit-tcni<pid>-: everything the topology and this test create is named with it and removed after.
  const { topology, log } = await withTopology(t, 'cni', 1, [dirname(PLUGIN_BIN)]);
  const [node] = topology.nodes;
  assert.ok(node);
  const dir = await socketDir(t);
  const store = new ObjectStore({ namespaces: ['default'] });
  const api = await new LocalApi(store, { tlsSocketPath: join(dir, 'api-tls.sock') }).start();
  t.after(() => api.stop());
  const objects = new Objects(store);
  objects.namespace('plain');
  objects.namespace('mesh', { 'istio.io/dataplane-mode': 'ambient' });
  objects.pod({ namespace: 'plain', name: 'legacy' });
  const webUid = objects.pod({ namespace: 'mesh', name: 'web' });

  // The node's API endpoint, as the runner starts it, in the node's namespace.
  const forwarderLog = join(dir, 'forwarder.log');
  const forwarder = startNodeApiForwarder({
    repoRoot: REPO,
    netns: node.netns,
    nodeIp: node.ip,
    name: 'api-forwarder',
    tlsSocket: join(dir, 'api-tls.sock'),
    logFile: forwarderLog,
    log: silentLogger(),
  });
  t.after(() => forwarder.stop(2000));
  await eventually(
    async () => assert.match(await readFile(forwarderLog, 'utf8'), new RegExp(`127\\.0\\.0\\.1:${NODE_API_PORT} ->`)),
    10_000,
  );
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), `https://127.0.0.1:${NODE_API_PORT}`);

  const agent = await startFakeAgent(t, dir);
  // Unix sockets live in the file system, not the network namespace: the plugin reaches the agent's from the node netns.
  const file = join(node.cniConfDir, CNI_CONFLIST_NAME);
  const conf = JSON.parse(await readFile(file, 'utf8')) as { plugins: unknown[] };
  conf.plugins.push({ type: 'ambit-cni', agentSocket: agent.socketPath, kubeconfig, timeoutMs: 5000 });
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

  const mesh = attachment(meshNs, 'c0ffee12', 'mesh', 'web', webUid);
  const meshResult = await cniAdd(node, mesh, log);
  assert.equal(podIpv4(meshResult), '10.244.1.3');
  assert.deepEqual(
    agent.calls.map((c) => [c.path, c.body]),
    [
      [
        '/v1/cni/add',
        {
          podUid: webUid,
          podName: 'web',
          podNamespace: 'mesh',
          netns: netnsPath(meshNs),
          containerId: 'c0ffee12',
          ifName: 'eth0',
          ips: ['10.244.1.3'],
        },
      ],
    ],
  );

  await cniDel(node, plain, log);
  await cniDel(node, mesh, log);
  await cniDel(node, mesh, log);
  assert.deepEqual(
    agent.calls.slice(1).map((c) => c.path),
    ['/v1/cni/del', '/v1/cni/del', '/v1/cni/del'],
  );
  // Before the topology's teardown (an after hook registered earlier, so run earlier) would kill it in its namespace.
  await forwarder.stop(2000);
});
