import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { ipNetns, runRaw } from './exec.ts';
import { createPodSandbox } from './pod-sandbox.ts';
import { removeServiceRules, serviceRulesScript, syncServiceRules, SERVICES_TABLE, type ServiceRule } from './service-proxy.ts';
import { curlIn, needsNetwork, startHttpServer, withTopology } from '../../testing/network.ts';

const VIP = '10.96.0.10';

test('a ClusterIP reaches endpoints on the same and the other node; no endpoints rejects at once', async (t) => {
  if (!needsNetwork(t)) return;
  const { topology, log } = await withTopology(t, 'svc', 2);
  const [node1, node2] = topology.nodes;
  assert.ok(node1 && node2);
  const pod = (node: typeof node1, name: string) =>
    createPodSandbox(topology, node, { uid: `${name}0000-0000`, namespace: 'demo', name }, log);
  const client = await pod(node1, 'client');
  const local = await pod(node1, 'local');
  const remote = await pod(node2, 'remote');
  const localServer = await startHttpServer(t, local.netns, 'local');
  const remoteServer = await startHttpServer(t, remote.netns, 'remote');
  const both: ServiceRule = {
    clusterIP: VIP,
    port: 80,
    protocol: 'TCP',
    endpoints: [
      { ip: local.ip, port: 8080 },
      { ip: remote.ip, port: 8080 },
    ],
  };
  const sync = (rules: readonly ServiceRule[]) => Promise.all(topology.nodes.map((n) => syncServiceRules(n.netns, rules)));

  await sync([both]);
  // numgen random spreads connections: both endpoints answer sooner or later.
  const seen = new Set<string>();
  await eventually(
    async () => {
      const r = await curlIn(client.netns, `http://${VIP}/`, 2);
      assert.equal(r.exitCode, 0, r.stderr);
      seen.add(r.stdout);
      assert.deepEqual([...seen].sort(), ['local', 'remote']);
    },
    10_000,
    0,
  );

  // Other node's endpoint: not masqueraded, the server sees the client pod's own address.
  await sync([{ ...both, endpoints: [{ ip: remote.ip, port: 8080 }] }]);
  assert.equal((await curlIn(client.netns, `http://${VIP}/`)).stdout, 'remote');
  await eventually(async () =>
    assert.match(await readFile(remoteServer.logFile, 'utf8'), new RegExp(`^${client.ip.replaceAll('.', '\\.')} `, 'm')),
  );

  // Same node (hairpin through cni0): works only because that case is masqueraded to the node's bridge address.
  await sync([{ ...both, endpoints: [{ ip: local.ip, port: 8080 }] }]);
  assert.equal((await curlIn(client.netns, `http://${VIP}/`)).stdout, 'local');
  await eventually(async () =>
    assert.match(await readFile(localServer.logFile, 'utf8'), new RegExp(`^${node1.podGateway.replaceAll('.', '\\.')} `, 'm')),
  );
  // A pod reaching itself through its own service.
  assert.equal((await curlIn(local.netns, `http://${VIP}/`)).stdout, 'local');
  // The node's own processes go through the output hook.
  assert.equal((await curlIn(node1.netns, `http://${VIP}/`)).stdout, 'local');
  assert.equal((await curlIn(node2.netns, `http://${VIP}/`)).stdout, 'local');

  // Zero endpoints: reset at once (kube-proxy's REJECT), from a pod and from the node.
  await sync([{ ...both, endpoints: [] }]);
  for (const ns of [client.netns, node1.netns]) {
    const started = Date.now();
    const r = await curlIn(ns, `http://${VIP}/`, 5);
    assert.equal(r.exitCode, 7, `${ns}: ${r.stderr}`);
    assert.match(r.stderr, /Connection refused|Couldn't connect/);
    assert.ok(Date.now() - started < 1000, `rejection should be immediate, took ${Date.now() - started} ms`);
  }

  // The table is replaced atomically on every sync and can be removed.
  const listed = await ipNetns(node1.netns, ['nft', 'list', 'table', 'ip', SERVICES_TABLE]);
  assert.match(listed.stdout, /reject with tcp reset/);
  assert.doesNotMatch(listed.stdout, /dnat/);
  await removeServiceRules(node1.netns);
  await removeServiceRules(node1.netns);
  const none = await runRaw(['ip', 'netns', 'exec', node1.netns, 'nft', 'list', 'table', 'ip', SERVICES_TABLE]);
  assert.notEqual(none.exitCode, 0);
});

test('the rules script maps endpoints with numgen, rejects UDP with port-unreachable and refuses bad input', () => {
  const script = serviceRulesScript([
    { clusterIP: '10.96.0.20', port: 53, protocol: 'UDP', endpoints: [] },
    {
      clusterIP: '10.96.0.21',
      port: 53,
      protocol: 'UDP',
      endpoints: [
        { ip: '10.244.1.5', port: 5353 },
        { ip: '10.244.2.5', port: 5353 },
        { ip: '10.244.2.6', port: 5353 },
      ],
    },
  ]);
  assert.match(script, /ip daddr 10\.96\.0\.20 udp dport 53 reject with icmp type port-unreachable/);
  assert.match(
    script,
    /dnat to numgen random mod 3 map \{ 0 : 10\.244\.1\.5 \. 5353, 1 : 10\.244\.2\.5 \. 5353, 2 : 10\.244\.2\.6 \. 5353 \}/,
  );
  assert.match(script, /^table ip ambit-services\ndelete table ip ambit-services\n/);
  const bad = (rule: ServiceRule) =>
    assert.throws(
      () => serviceRulesScript([rule]),
      (err) => hasCode(err, 'BAD_SERVICE'),
    );
  bad({ clusterIP: '10.96.0.1; flush ruleset', port: 80, protocol: 'TCP', endpoints: [] });
  bad({ clusterIP: '10.96.0.1', port: 70000, protocol: 'TCP', endpoints: [] });
  bad({ clusterIP: '10.96.0.1', port: 80, protocol: 'TCP', endpoints: [{ ip: '10.244.1.1', port: 0 }] });
});
