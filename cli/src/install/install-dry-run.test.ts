// `ambitctl install --dry-run` as a user types it: the YAML it prints is what kustomize renders from deploy/, with only
// the --set values changed; bad --set arguments are refused naming the key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { isRecord } from '@ambit/core';
import { renderKustomization } from './kubectl.ts';
import { overlayDir } from './install.ts';

const BIN = fileURLToPath(new URL('../../bin/ambitctl.js', import.meta.url));

type Obj = Record<string, unknown>;

function ambitctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: 60_000, env: { ...process.env, AMBIT_CLUSTER: 'no-such-cluster' } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

function objects(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as unknown)
    .filter(isRecord);
}

const find = (objs: readonly Obj[], kind: string, name: string): Obj | undefined =>
  objs.find((o) => o['kind'] === kind && isRecord(o['metadata']) && o['metadata']['name'] === name);

function container(o: Obj | undefined): Obj {
  const spec = isRecord(o?.['spec']) ? o['spec'] : {};
  const tpl = isRecord(spec['template']) && isRecord(spec['template']['spec']) ? spec['template']['spec'] : {};
  const c = Array.isArray(tpl['containers']) ? tpl['containers'][0] : undefined;
  assert.ok(isRecord(c), 'a container');
  return c;
}

test('install --dry-run prints the cluster overlay exactly as kustomize renders it, and needs no cluster', async () => {
  const r = await ambitctl('install', '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(objects(r.stdout), await renderKustomization(overlayDir('cluster')));
});

test('--set values change exactly their fields', async () => {
  const r = await ambitctl(
    'install',
    '--dry-run',
    '--set',
    'image.repository=registry.example.com:5000/mirror/ambit',
    '--set',
    'image.tag=0.2.0',
    '--set',
    'logLevel=debug',
    '--set',
    'controller.replicas=1',
    '--set',
    'cni.confDir=/var/lib/rancher/k3s/agent/etc/cni/net.d',
    '--set',
    'cni.binDir=/var/lib/rancher/k3s/data/cni',
  );
  assert.equal(r.code, 0, r.stderr);
  const objs = objects(r.stdout);
  const base = await renderKustomization(overlayDir('cluster'));
  const controller = find(objs, 'Deployment', 'ambit-controller');
  assert.equal((controller?.['spec'] as Obj)['replicas'], 1);
  assert.equal(find(objs, 'PodDisruptionBudget', 'ambit-controller'), undefined, 'one replica: no PDB to block drains');
  assert.equal(objs.length, base.length - 1);
  const image = 'registry.example.com:5000/mirror/ambit:0.2.0';
  assert.equal(container(controller)['image'], image);
  assert.ok((container(controller)['args'] as string[]).includes(`--waypoint-image=${image}`));
  assert.deepEqual(container(controller)['env'], [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'AMBIT_LOG_LEVEL', value: 'debug' },
  ]);
  const ztunnel = find(objs, 'DaemonSet', 'ztunnel');
  assert.equal(container(ztunnel)['image'], image);
  assert.ok((container(ztunnel)['env'] as Obj[]).some((e) => e['name'] === 'AMBIT_LOG_LEVEL' && e['value'] === 'debug'));
  const agent = find(objs, 'DaemonSet', 'ambit-node-agent');
  assert.equal(container(agent)['image'], image);
  const args = container(agent)['args'] as string[];
  assert.ok(args.includes('--log-level=debug'));
  assert.ok(args.includes('--host-cni-conf-dir=/var/lib/rancher/k3s/agent/etc/cni/net.d'));
  assert.ok(args.includes('--install-cni'));
  const volumes = (((agent?.['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['volumes'] as Obj[];
  const hostPath = (name: string): unknown => (volumes.find((v) => v['name'] === name)?.['hostPath'] as Obj | undefined)?.['path'];
  assert.equal(hostPath('cni-net'), '/var/lib/rancher/k3s/agent/etc/cni/net.d');
  assert.equal(hostPath('cni-bin'), '/var/lib/rancher/k3s/data/cni');
  // Everything else is as rendered.
  assert.deepEqual(find(objs, 'ClusterRole', 'ambit-node-agent'), find(base, 'ClusterRole', 'ambit-node-agent'));
});

test('a local cluster’s host path prefix reaches the agent’s host-side paths', async () => {
  const r = await ambitctl(
    'install',
    '--dry-run',
    '--overlay',
    'local',
    '--set',
    'cni.hostPathPrefix=/run/ambit/demo/nodes/$(NODE_NAME)/host',
  );
  assert.equal(r.code, 0, r.stderr);
  const args = container(find(objects(r.stdout), 'DaemonSet', 'ambit-node-agent'))['args'] as string[];
  assert.ok(args.includes('--host-cni-conf-dir=/run/ambit/demo/nodes/$(NODE_NAME)/host/etc/cni/net.d'), args.join(' '));
  assert.ok(args.includes('--host-cni-socket=/run/ambit/demo/nodes/$(NODE_NAME)/host/var/run/ambit/agent.sock'), args.join(' '));
});

test('a bad --set is refused naming the key, before anything is rendered or applied', async () => {
  const unknown = await ambitctl('install', '--dry-run', '--set', 'image.name=x');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /--set image\.name: unknown key; known keys: image\.repository, image\.tag, logLevel, controller\.replicas/);
  const bad = await ambitctl('install', '--dry-run', '--set', 'controller.replicas=0');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--set controller\.replicas=0: must be an integer 1…100/);
  const noEq = await ambitctl('install', '--dry-run', '--set', 'logLevel');
  assert.match(noEq.stderr, /--set "logLevel": expected key=value/);
  // Without --dry-run and without a cluster: the local cluster is named in the error.
  const down = await ambitctl('install');
  assert.equal(down.code, 1);
  assert.match(down.stderr, /local cluster "no-such-cluster" is not running/);
});
