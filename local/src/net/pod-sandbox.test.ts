import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { ipNetns, runRaw } from './exec.ts';
import { nsExists } from './netns.ts';
import { createPodSandbox, deletePodSandbox, writePodHosts, type PodSandbox } from './pod-sandbox.ts';
import { curlIn, needsNetwork, startHttpServer, withTopology } from '../../testing/network.ts';
import { CNI_CONFLIST_NAME, type NodeNet } from './topology.ts';

test('2 nodes × 2 pods: IPs from each node CIDR, pod-to-pod across nodes, hosts resolution, clean delete', async (t) => {
  if (!needsNetwork(t, ['/usr/bin/getent'])) return;
  const { topology, log } = await withTopology(t, 'pod', 2);
  const [node1, node2] = topology.nodes;
  assert.ok(node1 && node2);
  const pods: PodSandbox[] = [];
  for (const [i, node] of [node1, node1, node2, node2].entries()) {
    const started = Date.now();
    pods.push(
      await createPodSandbox(
        topology,
        node,
        { uid: `${i}a2b3c4d-0000-4000-8000-00000000000${i}`, namespace: 'demo', name: `pod${i}` },
        log,
      ),
    );
    t.diagnostic(`createPodSandbox on ${node.name}: ${Date.now() - started} ms`);
  }
  const [a1, a2, b1, b2] = pods;
  assert.ok(a1 && a2 && b1 && b2);
  assert.deepEqual(
    pods.map((p) => p.ip),
    ['10.244.1.2', '10.244.1.3', '10.244.2.2', '10.244.2.3'],
  );
  for (const p of pods) {
    assert.ok(p.netns.startsWith(topology.prefix));
    assert.equal(p.netnsPath, `/run/netns/${p.netns}`);
    const routes = await ipNetns(p.netns, ['ip', 'route', 'show', 'default']);
    assert.match(routes.stdout, new RegExp(`default via 10\\.244\\.${p.nodeName.slice(4)}\\.1 dev eth0`));
    const lo = await ipNetns(p.netns, ['ip', '-o', 'link', 'show', 'lo']);
    assert.match(lo.stdout, /UP/);
  }

  await startHttpServer(t, b2.netns, 'hello from b2');
  const cross = await curlIn(a1.netns, `http://${b2.ip}:8080/`);
  assert.equal(cross.stdout, 'hello from b2', cross.stderr);
  const sameNode = await curlIn(b1.netns, `http://${b2.ip}:8080/`);
  assert.equal(sameNode.stdout, 'hello from b2', sameNode.stderr);

  // Service names resolve from the pod's own hosts file; resolv.conf searches the pod's namespace.
  await writePodHosts(a1, [{ ip: '10.96.0.10', names: ['api.demo.svc.cluster.local', 'api.demo.svc', 'api'] }]);
  const resolved = await ipNetns(a1.netns, ['getent', 'hosts', 'api.demo.svc.cluster.local']);
  assert.match(resolved.stdout, /^10\.96\.0\.10\s+api\.demo\.svc\.cluster\.local/);
  const short = await ipNetns(a1.netns, ['getent', 'hosts', 'api']);
  assert.match(short.stdout, /^10\.96\.0\.10\s/);
  const resolv = await ipNetns(a1.netns, ['cat', '/etc/resolv.conf']);
  assert.equal(resolv.stdout, 'search demo.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n');
  const hostsBefore = await stat(join(a1.etcDir, 'hosts'));
  await writePodHosts(a1, [{ ip: '10.96.0.11', names: ['web.demo.svc.cluster.local'] }]);
  assert.equal((await stat(join(a1.etcDir, 'hosts'))).ino, hostsBefore.ino, 'hosts must be rewritten in place');
  const moved = await ipNetns(a1.netns, ['getent', 'hosts', 'web.demo.svc.cluster.local']);
  assert.match(moved.stdout, /^10\.96\.0\.11\s/);
  const gone = await runRaw(['ip', 'netns', 'exec', a1.netns, 'getent', 'hosts', 'api.demo.svc.cluster.local']);
  assert.notEqual(gone.exitCode, 0, 'a removed entry must not resolve (and no DNS query leaves the pod)');
  await assert.rejects(writePodHosts(a1, [{ ip: '10.96.0.12', names: ['evil\n1.2.3.4 x'] }]), (err) => hasCode(err, 'BAD_HOSTS_ENTRY'));

  await deletePodSandbox(topology, node1, a1, log);
  assert.equal(await nsExists(a1.netns), false);
  assert.equal(existsSync(a1.etcDir), false);
  await deletePodSandbox(topology, node1, a1, log); // idempotent
  assert.deepEqual(await ipamLeases(node1), ['10.244.1.3'], 'the deleted pod’s IP is released');
  // host-local hands addresses out round-robin, so a new pod gets the next free one.
  const again = await createPodSandbox(topology, node1, { uid: 'again000-0000', namespace: 'demo', name: 'again' }, log);
  assert.equal(again.ip, '10.244.1.4');
});

test('a failed CNI ADD rolls the sandbox back: no namespace, no /etc files, no IP held', async (t) => {
  if (!needsNetwork(t)) return;
  const { topology, log } = await withTopology(t, 'podfail', 1);
  const [node1] = topology.nodes;
  assert.ok(node1);
  // Append a plugin that does not exist: the bridge has already attached the pod and taken an IP by then.
  const file = join(node1.cniConfDir, CNI_CONFLIST_NAME);
  const conf = JSON.parse(await readFile(file, 'utf8')) as { plugins: unknown[] };
  conf.plugins.push({ type: 'no-such-plugin' });
  await writeFile(file, JSON.stringify(conf));

  await assert.rejects(createPodSandbox(topology, node1, { uid: 'fail0000-0000', namespace: 'demo', name: 'broken' }, log), (err) => {
    assert.ok(hasCode(err, 'CNI_FAILED'));
    assert.match(String(err), /no-such-plugin/);
    return true;
  });
  assert.deepEqual(
    (await readdir('/run/netns')).filter((n) => n.includes('pod-demo-broken')),
    [],
  );
  assert.equal(existsSync(`/etc/netns/${topology.prefix}pod-demo-broken-fail0000`), false);
  assert.deepEqual(await ipamLeases(node1), []);
  await assert.rejects(createPodSandbox(topology, node1, { uid: 'x', namespace: 'demo', name: 'bad name' }, log), (err) =>
    hasCode(err, 'SANDBOX_FAILED'),
  );
});

/** Addresses host-local currently has leased on `node` (its data dir holds one file per address). */
async function ipamLeases(node: NodeNet): Promise<string[]> {
  const dir = join(node.cniConfDir, '..', 'ipam', 'ambit');
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();
}
