import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { cniAdd, cniCheck, cniDel, podIpv4, CniError, type CniAttachment } from './cni.ts';
import { ipIn, ipNetns } from './exec.ts';
import { addNetns, deleteNetns, netnsPath } from './netns.ts';
import { needsNetwork, tempDir, withTopology } from '../../testing/network.ts';
import { CNI_CONFLIST_NAME, type NodeNet } from './topology.ts';

/**
 * A chained plugin as the CNI spec describes one: it records how it was called (command, CNI_ARGS, whether it got a
 * prevResult, in which network namespace it ran) and passes prevResult through unchanged on ADD.
 */
const RECORDER = `#!/usr/bin/python3
import json, os, sys
conf = json.load(sys.stdin)
cmd = os.environ["CNI_COMMAND"]
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}))
    sys.exit(0)
with open(conf["recordFile"], "a") as f:
    f.write(json.dumps({
        "command": cmd,
        "args": os.environ.get("CNI_ARGS"),
        "ifName": os.environ.get("CNI_IFNAME"),
        "netns": os.environ.get("CNI_NETNS"),
        "hasPrevResult": "prevResult" in conf,
        "name": conf.get("name"),
        "cniVersion": conf.get("cniVersion"),
        "runsIn": os.readlink("/proc/self/ns/net"),
    }) + "\\n")
if cmd == "ADD":
    print(json.dumps(conf["prevResult"]))
`;

/**
 * A plugin as a node agent installs one: it reads the node paths its config names and records what it saw (its own
 * path, their contents) in a file under a node path, passing prevResult through.
 */
const NODE_READER = `#!/usr/bin/python3
import json, os, sys
conf = json.load(sys.stdin)
cmd = os.environ["CNI_COMMAND"]
seen = {}
for p in conf["read"]:
    with open(p) as f:
        seen[p] = f.read()
with open(conf["recordFile"], "a") as f:
    f.write(json.dumps({"command": cmd, "argv0": sys.argv[0], "cniPath": os.environ.get("CNI_PATH"), "seen": seen}) + "\\n")
if cmd == "ADD":
    print(json.dumps(conf["prevResult"]))
`;

/** Fails ADD with a spec error JSON; DEL succeeds, as the spec asks of DEL. */
const FAILER = `#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","code":101,"msg":"intentional failure","details":"from the test plugin"}'
  exit 1
fi
exit 0
`;

async function writePlugin(dir: string, name: string, text: string): Promise<void> {
  await writeFile(join(dir, name), text);
  await chmod(join(dir, name), 0o755);
}

async function appendPlugin(node: NodeNet, plugin: Record<string, unknown>): Promise<void> {
  const file = join(node.cniConfDir, CNI_CONFLIST_NAME);
  const conf = JSON.parse(await readFile(file, 'utf8')) as { plugins: unknown[] };
  conf.plugins.push(plugin);
  await writeFile(file, JSON.stringify(conf, null, 2));
}

function attachment(netns: string, containerId: string): CniAttachment {
  return {
    containerId,
    netns: netnsPath(netns),
    ifName: 'eth0',
    args: { K8S_POD_NAMESPACE: 'demo', K8S_POD_NAME: 'web-1', K8S_POD_INFRA_CONTAINER_ID: containerId, K8S_POD_UID: 'uid-1' },
  };
}

test('a plugin appended to the conflist is chained on ADD, CHECK and DEL with CNI_ARGS and prevResult', async (t) => {
  if (!needsNetwork(t)) return;
  const binDir = await tempDir(t, 'cnibin');
  await writePlugin(binDir, 'recorder', RECORDER);
  const { topology, log } = await withTopology(t, 'cni', 1, [binDir]);
  const [node] = topology.nodes;
  assert.ok(node);
  assert.deepEqual(node.cniBinDirs, ['/usr/lib/cni', binDir]);
  const recordFile = join(binDir, 'calls.jsonl');
  await appendPlugin(node, { type: 'recorder', recordFile });

  const podNs = `${topology.prefix}pod-cni`;
  await addNetns(podNs);
  t.after(() => deleteNetns(podNs));
  const att = attachment(podNs, 'c0ffee01');
  const result = await cniAdd(node, att, log);
  assert.equal(podIpv4(result), '10.244.1.2');
  assert.equal(result.cniVersion, '1.0.0');
  assert.ok(result.interfaces.some((i) => i.name === 'eth0' && i.sandbox === netnsPath(podNs)));
  await cniCheck(node, att, log);
  await cniDel(node, att, log);
  await cniDel(node, att, log); // a repeated DEL is fine: there is nothing left to release

  const calls = (await readFile(recordFile, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const expectedArgs = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=c0ffee01;K8S_POD_UID=uid-1';
  assert.deepEqual(
    calls.map((c) => [c['command'], c['args'], c['ifName'], c['netns'], c['hasPrevResult'], c['name'], c['cniVersion']]),
    [
      ['ADD', expectedArgs, 'eth0', netnsPath(podNs), true, 'ambit', '1.0.0'],
      ['CHECK', expectedArgs, 'eth0', netnsPath(podNs), true, 'ambit', '1.0.0'],
      ['DEL', expectedArgs, 'eth0', netnsPath(podNs), true, 'ambit', '1.0.0'],
      // The cache went with the first DEL: the second has no prevResult to give.
      ['DEL', expectedArgs, 'eth0', netnsPath(podNs), false, 'ambit', '1.0.0'],
    ],
  );
  // Plugins run in the node's namespace, not the host's (the bridge plugin builds cni0 wherever it runs).
  const nodeNs = (await ipNetns(node.netns, ['readlink', '/proc/self/ns/net'])).stdout.trim();
  assert.notEqual(nodeNs, await readlink('/proc/self/ns/net'));
  for (const c of calls) assert.equal(c['runsIn'], nodeNs);
});

test('a plugin error JSON surfaces as CNI_FAILED naming the plugin, the command and its msg', async (t) => {
  if (!needsNetwork(t)) return;
  const binDir = await tempDir(t, 'cnibin');
  await writePlugin(binDir, 'failer', FAILER);
  const { topology, log } = await withTopology(t, 'cnierr', 1, [binDir]);
  const [node] = topology.nodes;
  assert.ok(node);
  await appendPlugin(node, { type: 'failer' });
  const podNs = `${topology.prefix}pod-err`;
  await addNetns(podNs);
  t.after(() => deleteNetns(podNs));
  const att = attachment(podNs, 'badd0001');

  await assert.rejects(cniAdd(node, att, log), (err) => {
    assert.ok(err instanceof CniError);
    assert.ok(hasCode(err, 'CNI_FAILED'));
    assert.equal(err.plugin, 'failer');
    assert.equal(err.command, 'ADD');
    assert.equal(err.cniCode, 101);
    assert.match(err.message, /CNI plugin "failer" ADD failed: intentional failure \(from the test plugin\)/);
    return true;
  });
  // CHECK without a successful ADD has nothing to check against.
  await assert.rejects(cniCheck(node, att, log), (err) => hasCode(err, 'CNI_FAILED'));
  // The kubelet's answer to a failed ADD is DEL, which releases what the bridge plugin had set up.
  await cniDel(node, att, log);
  const links = await ipIn(node.netns, ['-o', 'link', 'show', 'type', 'veth']);
  assert.doesNotMatch(links.stdout, /master cni0/);
});

test('a missing conflist or plugin is reported, not run', async (t) => {
  if (!needsNetwork(t)) return;
  const { topology, log } = await withTopology(t, 'cnimiss', 1);
  const [node] = topology.nodes;
  assert.ok(node);
  const podNs = `${topology.prefix}pod-miss`;
  await addNetns(podNs);
  t.after(() => deleteNetns(podNs));
  await appendPlugin(node, { type: '../../bin/sh' });
  await assert.rejects(cniAdd(node, attachment(podNs, 'miss0001'), log), /not a plain file name/);
  await cniDel(node, attachment(podNs, 'miss0001'), log).catch(() => {});
  await writeFile(join(node.cniConfDir, CNI_CONFLIST_NAME), '{"cniVersion":"1.0.0","name":"ambit","plugins":[{"type":"nope"}]}');
  await assert.rejects(cniAdd(node, attachment(podNs, 'miss0002'), log), /plugin not found/);
  await rm(join(node.cniConfDir, CNI_CONFLIST_NAME));
  await assert.rejects(
    cniAdd(node, attachment(podNs, 'miss0003'), log),
    (err) => hasCode(err, 'CNI_CONFIG') && /no \*\.conflist/.test(String(err)),
  );
});

test('nodeFiles: the node has only its primary config; a plugin installed into its /opt/cni/bin sees its directories', async (t) => {
  if (!needsNetwork(t)) return;
  const { topology, stateDir, log } = await withTopology(t, 'cninode', 1, [], { nodeFiles: true });
  const [node] = topology.nodes;
  assert.ok(node);
  const host = join(stateDir, 'nodes', 'node1', 'host');
  assert.equal(node.cniConfDir, join(host, 'etc/cni/net.d'));
  assert.deepEqual(node.cniBinDirs, ['/usr/lib/cni', '/opt/cni/bin']);
  const primary = JSON.parse(await readFile(join(node.cniConfDir, CNI_CONFLIST_NAME), 'utf8')) as { plugins: Array<{ type: string }> };
  assert.deepEqual(
    primary.plugins.map((p) => p.type),
    ['bridge'],
  );
  // What the node agent does through its hostPath volumes: the plugin into /opt/cni/bin, a socket directory under
  // /var/run, and the entry chained, naming node paths.
  await writePlugin(join(host, 'opt/cni/bin'), 'node-reader', NODE_READER);
  await mkdir(join(host, 'var/run/ambit'), { recursive: true });
  await writeFile(join(host, 'var/run/ambit/agent-file'), 'of node1\n');
  await appendPlugin(node, {
    type: 'node-reader',
    read: ['/var/run/ambit/agent-file', '/etc/cni/net.d/10-ambit.conflist'],
    recordFile: '/var/run/ambit/calls.jsonl',
  });
  const podNs = `${topology.prefix}pod-view`;
  await addNetns(podNs);
  t.after(() => deleteNetns(podNs));
  const att = attachment(podNs, 'c0ffee03');
  assert.equal(podIpv4(await cniAdd(node, att, log)), '10.244.1.2');
  await cniDel(node, att, log);
  const calls = (await readFile(join(host, 'var/run/ambit/calls.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { command: string; argv0: string; cniPath: string; seen: Record<string, string> });
  assert.deepEqual(
    calls.map((c) => [c.command, c.argv0, c.cniPath]),
    [
      ['ADD', '/opt/cni/bin/node-reader', '/usr/lib/cni:/opt/cni/bin'],
      ['DEL', '/opt/cni/bin/node-reader', '/usr/lib/cni:/opt/cni/bin'],
    ],
  );
  for (const c of calls) {
    assert.equal(c.seen['/var/run/ambit/agent-file'], 'of node1\n');
    assert.match(c.seen['/etc/cni/net.d/10-ambit.conflist'] ?? '', /"node-reader"/);
  }
  // The node's directories were bound in the plugin's own mount namespace only.
  assert.equal(existsSync('/var/run/ambit/agent-file'), false);
  // Leases in the node's /var/lib/cni/networks; the plugin removed, the runtime no longer finds it.
  assert.ok(existsSync(join(host, 'var/lib/cni/networks/ambit')));
  await rm(join(host, 'opt/cni/bin/node-reader'));
  await assert.rejects(cniAdd(node, attachment(podNs, 'c0ffee04'), log), (err) => err instanceof CniError && /not found/.test(err.message));
  await cniDel(node, attachment(podNs, 'c0ffee04'), log).catch(() => undefined);
});
