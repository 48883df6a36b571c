// main.ts's command line: flags, the kubeconfig they name, and bad flags ending the process with exit 2. The agent
// process serving against a real API is tested in test/integration/agent-main.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeconfigLoadError, loadKubeConfig, parseAgentFlags } from './agent-flags.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('flags: sockets and the state file are required absolute paths, --kubeconfig an optional one; the log level is checked', () => {
  const good = ['--node', 'n1', '--cni-socket', '/c', '--ztunnel-socket', '/z', '--state-file', '/s'];
  assert.deepEqual(parseAgentFlags(good), {
    options: { node: 'n1', cniSocket: '/c', ztunnelSocket: '/z', stateFile: '/s' },
    logLevel: 'info',
  });
  assert.equal(parseAgentFlags([...good, '--kubeconfig', '/etc/kube/config']).kubeconfig, '/etc/kube/config');
  assert.deepEqual(
    parseAgentFlags([...good, '--exclude-namespaces', 'kube-system, infra', '--log-level', 'debug']).options.excludeNamespaces,
    ['kube-system', 'infra'],
  );
  assert.throws(() => parseAgentFlags(good.slice(2)), /--node is required/);
  assert.throws(() => parseAgentFlags([...good.slice(0, 3), 'relative', ...good.slice(4)]), /--cni-socket must be an absolute path/);
  assert.throws(() => parseAgentFlags([...good, '--kubeconfig', 'kube.yaml']), /--kubeconfig must be an absolute path/);
  assert.throws(() => parseAgentFlags([...good, '--log-level', 'loud']), /--log-level must be one of/);
  assert.throws(() => parseAgentFlags([...good, '--api-socket', '/a']), /api-socket/, 'the unix-socket API flag is gone');
  assert.throws(() => parseAgentFlags([...good, '--bogus']), /bogus/);
});

test('--install-cni: the CNI directories as mounted and as the node sees them, with the DaemonSet’s defaults', () => {
  const good = ['--node', 'n1', '--cni-socket', '/var/run/ambit/agent.sock', '--ztunnel-socket', '/z', '--state-file', '/s'];
  assert.equal(parseAgentFlags(good).cniInstall, undefined, 'nothing is installed without the flag');
  assert.deepEqual(parseAgentFlags([...good, '--install-cni', '--cni-plugin-dir', '/opt/ambit/cni/bin']).cniInstall, {
    binDir: '/host/opt/cni/bin',
    confDir: '/host/etc/cni/net.d',
    hostConfDir: '/etc/cni/net.d',
    hostSocket: '/var/run/ambit/agent.sock',
    pluginDir: '/opt/ambit/cni/bin',
  });
  const local = parseAgentFlags([
    ...good,
    '--install-cni',
    '--host-cni-conf-dir',
    '/run/ambit/x/nodes/n1/host/etc/cni/net.d',
    '--host-cni-socket',
    '/run/ambit/x/nodes/n1/host/var/run/ambit/agent.sock',
  ]);
  assert.equal(local.cniInstall?.hostConfDir, '/run/ambit/x/nodes/n1/host/etc/cni/net.d');
  assert.equal(local.cniInstall?.hostSocket, '/run/ambit/x/nodes/n1/host/var/run/ambit/agent.sock');
  assert.match(
    parseAgentFlags([...good, '--install-cni']).cniInstall?.pluginDir ?? '',
    /\/cni\/bin$/,
    'default: this release’s built plugin',
  );
  assert.throws(() => parseAgentFlags([...good, '--install-cni', '--cni-conf-dir', 'net.d']), /--cni-conf-dir must be an absolute path/);
});

test('the kubeconfig: a file is loaded with its current cluster; a missing or empty one is a start-up error naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-kc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeconfig');
  // JSON is YAML: a kubeconfig in either form loads.
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  assert.equal(loadKubeConfig(file, false).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  assert.throws(
    () => loadKubeConfig(join(dir, 'missing'), false),
    (err: unknown) => err instanceof KubeconfigLoadError && /cannot load .*missing/.test(err.message),
  );
  const empty = join(dir, 'empty');
  await writeFile(empty, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
  assert.throws(() => loadKubeConfig(empty, false), /names no current cluster/);
});

test('bad flags exit 2 with the reason and the usage', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--kubeconfig', '/x'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  assert.deepEqual(exited, { code: 2, signal: null });
  assert.match(output, /--node is required/);
  assert.match(output, /usage: main\.ts --node NAME/);
  assert.match(output, /--kubeconfig +the API server and credentials/);
});

test('--help prints the usage and exits 0', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--help'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.match(stdout, /^usage: main\.ts --node NAME/);
  assert.doesNotMatch(stdout, /api-socket/);
});
