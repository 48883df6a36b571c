import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasCode, silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { ipNetns, runRaw } from './exec.ts';
import { listNetnsWithPrefix } from './netns.ts';
import { createPodSandbox } from './pod-sandbox.ts';
import { assertNothingLeft, needsNetwork, tempDir, testPrefix, withTopology } from '../../testing/network.ts';
import { createTopology, destroyTopology } from './topology.ts';

test('topology up then down leaves no namespace, /etc/netns dir or CNI state', async (t) => {
  if (!needsNetwork(t)) return;
  const prefix = testPrefix('topo');
  const stateDir = await tempDir(t, 'topo');
  const log = silentLogger();
  const started = Date.now();
  const topology = await createTopology({ prefix, nodes: 2, stateDir, log });
  t.diagnostic(`createTopology(2 nodes): ${Date.now() - started} ms`);
  t.after(() => destroyTopology(topology, log));

  assert.deepEqual((await listNetnsWithPrefix(prefix)).sort(), [`${prefix}driver`, `${prefix}node1`, `${prefix}node2`, `${prefix}world`]);
  assert.deepEqual(
    topology.nodes.map((n) => [n.name, n.netns, n.ip, n.podCidr]),
    [
      ['node1', `${prefix}node1`, '172.28.0.11', '10.244.1.0/24'],
      ['node2', `${prefix}node2`, '172.28.0.12', '10.244.2.0/24'],
    ],
  );
  const node1 = topology.nodes[0];
  assert.ok(node1);
  assert.deepEqual(node1.cniBinDirs, ['/usr/lib/cni']);
  const conflist: unknown = JSON.parse(await readFile(join(node1.cniConfDir, '10-ambit.conflist'), 'utf8'));
  assert.deepEqual(conflist, {
    cniVersion: '1.0.0',
    name: 'ambit',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }]],
          dataDir: join(stateDir, 'nodes/node1/cni/ipam'),
        },
      },
    ],
  });

  const addr = await ipNetns(node1.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  assert.match(addr.stdout, /inet 172\.28\.0\.11\/24/);
  const forward = await ipNetns(node1.netns, ['sysctl', '-n', 'net.ipv4.ip_forward']);
  assert.equal(forward.stdout.trim(), '1');
  const routes = await ipNetns(node1.netns, ['ip', 'route', 'show']);
  assert.match(routes.stdout, /10\.244\.2\.0\/24 via 172\.28\.0\.12 dev eth0/);
  for (const ns of [topology.worldNs, topology.driverNs, node1.netns]) {
    const def = await ipNetns(ns, ['ip', 'route', 'show', 'default']);
    assert.equal(def.stdout.trim(), '', `no default route in ${ns}`);
  }
  // The underlay is reachable node to node, through the world bridge.
  const reach = await runRaw(['ip', 'netns', 'exec', node1.netns, 'curl', '-sS', '--max-time', '2', 'http://172.28.0.12:1/']);
  assert.match(reach.stderr, /Connection refused|Couldn't connect/);

  await destroyTopology(topology, log);
  await destroyTopology(topology, log); // idempotent
  await assertNothingLeft(prefix);
  assert.equal(existsSync(join(stateDir, 'nodes')), false);
});

test('a second topology with the same prefix is refused while the first exists', async (t) => {
  if (!needsNetwork(t)) return;
  const { topology, stateDir, log } = await withTopology(t, 'dup', 1);
  await assert.rejects(createTopology({ prefix: topology.prefix, nodes: 1, stateDir, log }), (err) => hasCode(err, 'TOPOLOGY_EXISTS'));
  assert.equal((await listNetnsWithPrefix(topology.prefix)).length, 3, 'the refused attempt must not touch the live one');
});

test('the cluster is sealed: the driver cannot reach pods and the host namespace sees no cluster packet', async (t) => {
  if (!needsNetwork(t, ['/usr/bin/tcpdump'])) return;
  const { topology, log } = await withTopology(t, 'seal', 2);
  const [node1, node2] = topology.nodes;
  assert.ok(node1 && node2);
  const pod = await createPodSandbox(topology, node2, { uid: 'seal0001-0000', namespace: 'demo', name: 'target' }, log);

  // Capture in the host namespace on every interface while the cluster talks. tcpdump itself is the child (no
  // `timeout` wrapper), so killing it by PID cannot leave an orphan capturing forever.
  const tcpdump = spawn('tcpdump', ['-i', 'any', '-n', '-c1', 'net', '10.244.0.0/16', 'or', 'net', '172.28.0.0/24'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let captured = '';
  let diag = '';
  tcpdump.stdout.on('data', (b: Buffer) => (captured += b.toString()));
  tcpdump.stderr.on('data', (b: Buffer) => (diag += b.toString()));
  const exited = new Promise<number | null>((resolve) => tcpdump.on('close', resolve));
  t.after(() => {
    if (tcpdump.exitCode === null && tcpdump.signalCode === null) tcpdump.kill('SIGKILL');
  });
  await eventually(() => assert.match(diag, /listening on/), 3000);

  const started = Date.now();
  const fromDriver = await runRaw(['ip', 'netns', 'exec', topology.driverNs, 'curl', '-sS', '--max-time', '2', `http://${pod.ip}/`]);
  const elapsedMs = Date.now() - started;
  assert.equal(fromDriver.exitCode, 7, fromDriver.stderr);
  assert.ok(elapsedMs < 1500, `driver connect should fail at once, took ${elapsedMs} ms`);
  const unreachable = await runRaw(['ip', 'netns', 'exec', topology.driverNs, 'nc', '-zv', '-w', '1', pod.ip, '80']);
  assert.match(unreachable.stderr, /Network is unreachable/);
  // Traffic inside the cluster (node1 → pod on node2 over the underlay) must not show up in the host either.
  const inside = await runRaw(['ip', 'netns', 'exec', node1.netns, 'curl', '-sS', '--max-time', '2', `http://${pod.ip}:1/`]);
  assert.equal(inside.exitCode, 7, inside.stderr);
  // The pod has no route anywhere but its node, and the node none beyond the cluster.
  const out = await runRaw(['ip', 'netns', 'exec', pod.netns, 'curl', '-sS', '--max-time', '2', 'http://192.0.2.1/']);
  assert.notEqual(out.exitCode, 0);

  // Give a stray packet time to show up, then stop the capture: `-c1` would have ended it on the first packet.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(tcpdump.exitCode, null, `tcpdump ended early (a packet was captured?): ${captured} ${diag}`);
  tcpdump.kill('SIGINT');
  await exited;
  assert.equal(captured.trim(), '', 'host namespace saw cluster packets');
  assert.match(diag, /0 packets captured/);
});
