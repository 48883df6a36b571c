// The plugin's kubeconfig is self-contained: the agent's files (projected token, CA bundle) are inlined, because the
// plugin runs on the host, where those files are not; the plugin's own reader accepts the result.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { pluginKubeconfig } from './plugin-kubeconfig.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

test('in-cluster credentials (token file, CA file) are inlined; a rotated token gives a new text', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tcni-kc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ca.crt'), CA);
  await writeFile(join(dir, 'token'), 'token-1\n');
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'inCluster', server: 'https://10.96.0.1:443', caFile: join(dir, 'ca.crt'), skipTLSVerify: false },
    { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } },
  );
  const first = parse(await pluginKubeconfig(kc)) as Record<string, unknown>;
  assert.deepEqual(first, {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'cluster', cluster: { server: 'https://10.96.0.1:443', 'certificate-authority-data': Buffer.from(CA).toString('base64') } },
    ],
    users: [{ name: 'ambit-cni', user: { token: 'token-1' } }],
    contexts: [{ name: 'ambit-cni', context: { cluster: 'cluster', user: 'ambit-cni' } }],
    'current-context': 'ambit-cni',
  });
  await writeFile(join(dir, 'token'), 'token-2\n');
  assert.match(await pluginKubeconfig(kc), /token: token-2/);
});

test('a kubeconfig with a token and CA data passes through; an exec plugin is refused, naming why', async () => {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'c', server: 'https://127.0.0.1:6443', caData: 'Q0E=', skipTLSVerify: false, tlsServerName: 'api' },
    { name: 'u', token: 'abc' },
  );
  const doc = parse(await pluginKubeconfig(kc)) as {
    clusters: Array<{ cluster: Record<string, unknown> }>;
    users: Array<{ user: Record<string, unknown> }>;
  };
  assert.deepEqual(doc.clusters[0]?.cluster, {
    server: 'https://127.0.0.1:6443',
    'certificate-authority-data': 'Q0E=',
    'tls-server-name': 'api',
  });
  assert.deepEqual(doc.users[0]?.user, { token: 'abc' });

  const exec = new KubeConfig();
  exec.loadFromClusterAndUser({ name: 'c', server: 'https://x', skipTLSVerify: false }, { name: 'u', exec: { command: 'aws' } });
  await assert.rejects(pluginKubeconfig(exec), /exec\/auth provider or basic auth, which the plugin cannot use/);
});
