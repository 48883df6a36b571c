// The CNI installer on real files in a temporary directory: the primary's config keeps every byte apart from the
// chained entry, a `.conf` becomes a list and comes back on uninstall, installs are idempotent, the entry follows the
// primary when its file is rewritten or a new primary appears, and uninstall removes exactly what was added.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test, type TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { testLogger } from '../../testing/agent-harness.ts';
import { buildPlugin, PLUGIN_BIN, runPluginBin } from '../../testing/plugin-harness.ts';
import { createCniInstaller, KUBECONFIG_FILE, NODE_DIR, type CniInstallOptions } from './cni-installer.ts';

before(buildPlugin);

const ENTRY = { agentSocket: '/var/run/ambit/agent.sock', kubeconfig: `/etc/cni/net.d/${KUBECONFIG_FILE}` };

// Formatted the way flannel and Calico write theirs (4 spaces; `0.3.1`; a number spelled `1500.0` that a re-serialiser
// would change to 1500).
const FLANNEL = `{
    "name": "cbr0",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "flannel",
            "delegate": {
                "hairpinMode": true,
                "isDefaultGateway": true,
                "mtu": 1500.0
            }
        },
        {
            "type": "portmap",
            "capabilities": {
                "portMappings": true
            }
        }
    ]
}
`;

interface Node {
  readonly root: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly sourceBinDir: string;
  readonly options: CniInstallOptions;
}

/** A node's directories (bin dir with a plugin of someone else's already in it) and a built plugin to install. */
async function node(t: TestContext, overrides: Partial<CniInstallOptions> = {}): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), 'ambit-tcni-install-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const binDir = join(root, 'host', 'opt', 'cni', 'bin');
  const confDir = join(root, 'host', 'etc', 'cni', 'net.d');
  const sourceBinDir = join(root, 'image', 'cni', 'bin');
  await mkdir(binDir, { recursive: true });
  await mkdir(confDir, { recursive: true });
  await mkdir(sourceBinDir, { recursive: true });
  await writeFile(join(binDir, 'bridge'), 'someone else’s plugin');
  await writeFile(join(sourceBinDir, 'ambit-cni'), 'front end v1');
  await writeFile(join(sourceBinDir, 'ambit-cni-node'), 'fallback v1');
  const options: CniInstallOptions = {
    binDir,
    confDir,
    hostConfDir: '/etc/cni/net.d',
    sourceBinDir,
    entry: ENTRY,
    kubeconfig: () => Promise.resolve('apiVersion: v1\nkind: Config\n'),
    stateFile: join(root, 'host', 'var', 'run', 'ambit', 'cni-install.json'),
    log: testLogger(),
    ...overrides,
  };
  return { root, binDir, confDir, sourceBinDir, options };
}

const read = (file: string): Promise<string> => readFile(file, 'utf8');
const pluginTypes = async (file: string): Promise<string[]> =>
  (JSON.parse(await read(file)) as { plugins: Array<{ type: string }> }).plugins.map((p) => p.type);

test('chains the entry into the primary conflist, adding nothing else; uninstall gives back the file byte for byte', async (t) => {
  const n = await node(t);
  const primary = join(n.confDir, '10-flannel.conflist');
  await writeFile(primary, FLANNEL);
  await chmod(primary, 0o640);
  const installer = createCniInstaller(n.options);
  assert.equal(await installer.install(), primary);

  const installed = await read(primary);
  const parsed = JSON.parse(installed) as { plugins: unknown[] };
  assert.deepEqual(parsed.plugins.at(-1), { ...ENTRY, type: 'ambit-cni' });
  assert.deepEqual(parsed.plugins.slice(0, -1), (JSON.parse(FLANNEL) as { plugins: unknown[] }).plugins);
  // The text is the original with one insertion after the last plugin, indented like the others.
  const at = FLANNEL.lastIndexOf('}', FLANNEL.lastIndexOf(']')) + 1;
  assert.equal(installed.slice(0, at), FLANNEL.slice(0, at));
  assert.equal(installed.slice(installed.length - (FLANNEL.length - at)), FLANNEL.slice(at));
  assert.match(installed.slice(at), /^,\n {8}\{\n {12}"agentSocket"/);
  assert.equal((await stat(primary)).mode & 0o777, 0o640, 'the primary keeps its mode');
  assert.equal(await read(join(n.binDir, 'ambit-cni')), 'front end v1');
  assert.equal(await read(join(n.binDir, 'ambit-cni-node')), 'fallback v1');
  assert.equal((await stat(join(n.binDir, 'ambit-cni'))).mode & 0o111, 0o111);
  assert.equal((await stat(join(n.confDir, KUBECONFIG_FILE))).mode & 0o777, 0o600);

  await installer.uninstall();
  assert.equal(await read(primary), FLANNEL);
  assert.deepEqual(await readdir(n.confDir), ['10-flannel.conflist']);
  assert.deepEqual(await readdir(n.binDir), ['bridge']);
  await assert.rejects(stat(n.options.stateFile), { code: 'ENOENT' });
});

test('a second install changes nothing; a changed entry or plugin replaces the old one instead of adding another', async (t) => {
  const n = await node(t);
  const primary = join(n.confDir, '05-calico.conflist');
  await writeFile(primary, '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"},{"type":"bandwidth"}]}');
  await createCniInstaller(n.options).install();
  const first = await read(primary);
  assert.equal(
    first,
    '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"},{"type":"bandwidth"},' +
      `${JSON.stringify({ ...ENTRY, type: 'ambit-cni' })}]}`,
  );
  const inode = (await stat(primary)).ino;
  const binInode = (await stat(join(n.binDir, 'ambit-cni'))).ino;
  await createCniInstaller(n.options).install();
  assert.equal(await read(primary), first);
  assert.equal((await stat(primary)).ino, inode, 'an idempotent install does not even rewrite the file');
  assert.equal((await stat(join(n.binDir, 'ambit-cni'))).ino, binInode);

  await writeFile(join(n.sourceBinDir, 'ambit-cni'), 'front end v2');
  await createCniInstaller({ ...n.options, entry: { ...ENTRY, excludeNamespaces: ['kube-system'] } }).install();
  assert.deepEqual(await pluginTypes(primary), ['calico', 'bandwidth', 'ambit-cni']);
  assert.deepEqual((JSON.parse(await read(primary)) as { plugins: unknown[] }).plugins[2], {
    ...ENTRY,
    excludeNamespaces: ['kube-system'],
    type: 'ambit-cni',
  });
  assert.equal(await read(join(n.binDir, 'ambit-cni')), 'front end v2');
});

test('one installer re-checks a plugin file once it or its source changed, even to the same size', async (t) => {
  const n = await node(t);
  const installer = createCniInstaller(n.options);
  await installer.install();
  const dest = join(n.binDir, 'ambit-cni');
  assert.equal(await read(dest), 'front end v1');
  // Passes remember what they found equal (so the ~120 MB Node is not hashed again every pass): a change of the
  // installed file in place, its mtime set back far from the remembered one, must still be seen.
  await writeFile(dest, 'front end XX');
  await utimes(dest, 1000, 1000);
  await installer.install();
  assert.equal(await read(dest), 'front end v1', 'the installed file, changed in place, is put back');
  // A new source of the same size (replaced by rename, as an image layer or an upgrade does).
  const src = join(n.sourceBinDir, 'ambit-cni');
  await writeFile(`${src}.new`, 'front end v2');
  await rename(`${src}.new`, src);
  await installer.install();
  assert.equal(await read(dest), 'front end v2', 'a new source of the same size is installed');
  const inode = (await stat(dest)).ino;
  await installer.install();
  assert.equal((await stat(dest)).ino, inode, 'nothing changed: nothing rewritten');
});

test('a single .conf becomes a .conflist holding it; uninstall restores the .conf exactly', async (t) => {
  const n = await node(t);
  const conf =
    '{\n  "cniVersion": "0.4.0",\n  "name": "mynet",\n  "type": "bridge",\n  "bridge": "cni0",\n  "ipam": { "type": "host-local", "subnet": "10.22.0.0/16" }\n}\n';
  await writeFile(join(n.confDir, '10-mynet.conf'), conf);
  const installer = createCniInstaller(n.options);
  assert.equal(await installer.install(), join(n.confDir, '10-mynet.conflist'));
  assert.deepEqual((await readdir(n.confDir)).sort(), ['10-mynet.conflist', KUBECONFIG_FILE]);
  assert.deepEqual(JSON.parse(await read(join(n.confDir, '10-mynet.conflist'))), {
    cniVersion: '0.4.0',
    name: 'mynet',
    plugins: [
      { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.22.0.0/16' } },
      { ...ENTRY, type: 'ambit-cni' },
    ],
  });
  await installer.install();
  assert.deepEqual(await pluginTypes(join(n.confDir, '10-mynet.conflist')), ['bridge', 'ambit-cni']);

  await installer.uninstall();
  assert.deepEqual(await readdir(n.confDir), ['10-mynet.conf']);
  assert.equal(await read(join(n.confDir, '10-mynet.conf')), conf);
});

test('the entry is put back when the primary rewrites its file, and moves when a new primary sorts first', async (t) => {
  const n = await node(t, { resyncMs: 60_000 });
  const primary = join(n.confDir, '10-flannel.conflist');
  await writeFile(primary, FLANNEL);
  await writeFile(join(n.confDir, 'README'), 'not a config');
  await writeFile(join(n.confDir, '00-broken.conflist'), '{"plugins": ['); // skipped, as runtimes skip it
  const installer = createCniInstaller(n.options);
  t.after(() => installer.stop());
  await installer.start();
  assert.deepEqual(await pluginTypes(primary), ['flannel', 'portmap', 'ambit-cni']);

  // flannel restarts and writes its config again, without our entry (the directory watch, not the resync, sees it).
  await writeFile(primary, FLANNEL);
  await eventually(async () => assert.deepEqual(await pluginTypes(primary), ['flannel', 'portmap', 'ambit-cni']), 5000);

  const calico = join(n.confDir, '05-calico.conflist');
  await writeFile(calico, '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"}]}');
  await eventually(async () => {
    assert.deepEqual(await pluginTypes(calico), ['calico', 'ambit-cni']);
    assert.equal(await read(primary), FLANNEL, 'the list that is no longer the primary loses the entry');
  }, 5000);

  await installer.uninstall();
  assert.equal(await read(primary), FLANNEL);
  assert.equal(await read(calico), '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"}]}');
});

test('with no primary config yet, start() waits and chains into the first one that appears', async (t) => {
  const n = await node(t, { resyncMs: 60_000 });
  const installer = createCniInstaller(n.options);
  t.after(() => installer.stop());
  await installer.start();
  assert.deepEqual(await readdir(n.confDir), [KUBECONFIG_FILE]);
  await writeFile(
    join(n.confDir, '10-kindnet.conflist'),
    '{"cniVersion":"0.3.1","name":"kindnet","plugins":[{"type":"ptp"},{"type":"portmap"}]}',
  );
  await eventually(
    async () => assert.deepEqual(await pluginTypes(join(n.confDir, '10-kindnet.conflist')), ['ptp', 'portmap', 'ambit-cni']),
    5000,
  );
  await installer.stop();
  // stop() (an agent restart) leaves everything in place.
  assert.deepEqual(await pluginTypes(join(n.confDir, '10-kindnet.conflist')), ['ptp', 'portmap', 'ambit-cni']);
  assert.deepEqual((await readdir(n.binDir)).sort(), ['ambit-cni', 'ambit-cni-node', 'bridge']);
});

test('the installed front end runs its fallback with the Node installed beside it, not the shebang’s', async (t) => {
  const n = await node(t);
  const marker = join(n.root, 'node-used');
  // A stand-in for the image's Node that records it was used, then runs the real one.
  const nodeBinary = join(n.root, 'image', 'node');
  await writeFile(nodeBinary, `#!/bin/sh\necho "$@" > ${marker}\nexec ${process.execPath} "$@"\n`);
  await chmod(nodeBinary, 0o755);
  await writeFile(join(n.confDir, '10-flannel.conflist'), FLANNEL);
  const installer = createCniInstaller({ ...n.options, sourceBinDir: join(PLUGIN_BIN, '..'), nodeBinary });
  await installer.install();
  assert.equal(await read(join(n.binDir, NODE_DIR, 'node')), await read(nodeBinary));

  const out = await runPluginBin(
    { CNI_COMMAND: 'VERSION' },
    JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'ambit-cni', agentSocket: join(n.root, 'none.sock') }),
    join(n.binDir, 'ambit-cni'),
  );
  assert.equal(out.exitCode, 0, out.stderr);
  assert.equal((JSON.parse(out.stdout) as { cniVersion: string }).cniVersion, '1.0.0');
  assert.equal((await read(marker)).trim(), join(n.binDir, 'ambit-cni-node'));

  await installer.uninstall();
  assert.deepEqual(await readdir(n.binDir), ['bridge']);
});
