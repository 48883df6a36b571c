// The plugin's kubeconfig reader: what it takes from the current context, files relative to the kubeconfig, and the
// errors that name what it cannot use.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { KubeconfigError, readKubeconfig } from './kubeconfig.ts';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ambit-tcni-kc-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('the current context picks the cluster and user; -data fields are base64; the server path is a prefix', async (t) => {
  const d = await dir(t);
  const file = join(d, 'config');
  await writeFile(
    file,
    `apiVersion: v1
kind: Config
current-context: node
clusters:
  - name: other
    cluster: {server: "https://10.0.0.1:443"}
  - name: local
    cluster:
      server: https://127.0.0.1:6443/prefix/
      certificate-authority-data: ${b64('CA PEM')}
      tls-server-name: api.internal
users:
  - name: other
    user: {token: nope}
  - name: agent
    user:
      token: secret
contexts:
  - name: other
    context: {cluster: other, user: other}
  - name: node
    context: {cluster: local, user: agent, namespace: default}
`,
  );
  const access = readKubeconfig(file);
  assert.equal(access.origin.origin, 'https://127.0.0.1:6443');
  assert.equal(access.pathPrefix, '/prefix');
  assert.deepEqual(access.headers, { authorization: 'Bearer secret' });
  assert.equal(access.tls.ca?.toString(), 'CA PEM');
  assert.equal(access.tls.servername, 'api.internal');
  assert.equal(access.tls.insecureSkipVerify, false);
});

test('file fields are read relative to the kubeconfig: CA, client certificate and key, tokenFile', async (t) => {
  const d = await dir(t);
  await writeFile(join(d, 'ca.pem'), 'CA');
  await writeFile(join(d, 'client.pem'), 'CERT');
  await writeFile(join(d, 'client.key'), 'KEY');
  await writeFile(join(d, 'token'), 'from-file\n');
  const file = join(d, 'config');
  const doc = (user: Record<string, unknown>): string =>
    JSON.stringify({
      'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca.pem' } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    });
  await writeFile(file, doc({ 'client-certificate': 'client.pem', 'client-key': join(d, 'client.key'), tokenFile: 'token' }));
  const access = readKubeconfig(file);
  assert.equal(access.origin.origin, 'https://127.0.0.1:6443');
  assert.equal(access.pathPrefix, '');
  assert.equal(access.tls.ca?.toString(), 'CA');
  assert.equal(access.tls.cert?.toString(), 'CERT');
  assert.equal(access.tls.key?.toString(), 'KEY');
  assert.deepEqual(access.headers, { authorization: 'Bearer from-file' });

  await writeFile(file, doc({ 'client-certificate': 'client.pem' }));
  assert.throws(() => readKubeconfig(file), /needs its key/);
  await writeFile(file, doc({ token: 't', tokenFile: 'missing' }));
  assert.deepEqual(readKubeconfig(file).headers, { authorization: 'Bearer t' }, 'token wins over tokenFile');
  await writeFile(file, doc({ tokenFile: 'missing' }));
  assert.throws(() => readKubeconfig(file), /tokenFile: .*ENOENT/);
});

test('what it cannot use is an error naming the file and the field', async (t) => {
  const d = await dir(t);
  const file = join(d, 'config');
  const cases: Array<[unknown, RegExp]> = [
    ['just a string', /not a YAML mapping/],
    [{ clusters: [] }, /current-context must name a context/],
    [{ 'current-context': 'x', contexts: [] }, /no contexts entry named "x"/],
    [{ 'current-context': 'x', contexts: [{ name: 'x', context: { cluster: 'k' } }], clusters: [] }, /no clusters entry named "k"/],
    [
      {
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'k' } }],
        clusters: [{ name: 'k', cluster: { server: 'http://127.0.0.1:8080' } }],
      },
      /server must be https/,
    ],
    [
      {
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'k' } }],
        clusters: [{ name: 'k', cluster: { server: 'not a url' } }],
      },
      /server must be a URL/,
    ],
    [
      {
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'k', user: 'u' } }],
        clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443' } }],
        users: [{ name: 'u', user: { exec: { command: 'aws' } } }],
      },
      /user u: field exec is not supported/,
    ],
    [
      {
        'current-context': 'x',
        contexts: [{ name: 'x', context: { cluster: 'k' } }],
        clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': 'nowhere.pem' } }],
      },
      /certificate-authority: .*ENOENT/,
    ],
  ];
  for (const [doc, message] of cases) {
    await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    assert.throws(
      () => readKubeconfig(file),
      (err: unknown) => err instanceof KubeconfigError && err.message.startsWith(`kubeconfig ${file}: `) && message.test(err.message),
      JSON.stringify(doc),
    );
  }
  assert.throws(() => readKubeconfig(join(d, 'absent')), /ENOENT/);
});
