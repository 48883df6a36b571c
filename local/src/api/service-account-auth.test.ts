import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { asRecord } from '@ambit/core';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../testing/kubectl.ts';
import { createServiceAccountTokens, loadOrCreateSigningKey, type LocalServiceAccountTokens } from '../auth/tokens.ts';
import { ObjectStore } from '../store/object-store.ts';

/**
 * ServiceAccount tokens and RBAC through the real kubectl, as a user of a cluster meets them: a token from
 * `kubectl create token`, a kubeconfig holding it, allowed and refused calls with kube-apiserver's messages,
 * `kubectl auth can-i` (also `--as`), and a TokenReview the way the controller's CA sends it.
 */

const RBAC = 'rbac.authorization.k8s.io/v1';
const store = new ObjectStore({ namespaces: ['default', 'kube-system', 'team'] });
let fx: KubectlFixture;
let tokens: LocalServiceAccountTokens;
let keyDir = '';
let readerToken = '';

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

void describe('ServiceAccount tokens and RBAC through kubectl', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'ambit-sa-key-'));
    const signingKey = await loadOrCreateSigningKey(join(keyDir, 'sa.key'));
    tokens = createServiceAccountTokens({
      signingKey,
      find: (kind, ns, name) => store.find(store.typeOf({ apiVersion: 'v1', kind }), kind === 'Node' ? undefined : ns, name),
    });
    store.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'team' } });
    store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'team' },
      spec: { serviceAccountName: 'reader', containers: [{ name: 'c' }] },
    });
    store.create({
      apiVersion: RBAC,
      kind: 'Role',
      metadata: { name: 'pod-reader', namespace: 'team' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    });
    store.create({
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: { name: 'reader', namespace: 'team' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'team' }],
    });
    fx = await startKubectlFixture(store, { serviceAccountTokens: tokens });
    readerToken = (await fx.kubectlOk('create', 'token', 'reader', '-n', 'team')).trim();
  });

  after(async () => {
    await fx.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  void it('kubectl create token issues a ServiceAccount token with the asked audience and duration', async () => {
    const c = claims(readerToken);
    assert.equal(c['sub'], 'system:serviceaccount:team:reader');
    assert.deepEqual(c['aud'], ['https://kubernetes.default.svc.cluster.local']);
    assert.equal(Number(c['exp']) - Number(c['iat']), 3600, 'the TokenRequest API defaults to one hour');
    const custom = claims(
      (await fx.kubectlOk('create', 'token', 'reader', '-n', 'team', '--audience', 'ambit-ca', '--duration', '10m')).trim(),
    );
    assert.deepEqual(custom['aud'], ['ambit-ca']);
    assert.equal(Number(custom['exp']) - Number(custom['iat']), 600);
    const bound = claims(
      (await fx.kubectlOk('create', 'token', 'reader', '-n', 'team', '--bound-object-kind', 'Pod', '--bound-object-name', 'web')).trim(),
    );
    assert.deepEqual(asKubernetes(bound)['pod'], {
      name: 'web',
      uid: store.get(store.typeOf({ apiVersion: 'v1', kind: 'Pod' }), 'team', 'web').metadata.uid,
    });
    const missing = await fx.kubectl('create', 'token', 'nobody', '-n', 'team');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /serviceaccounts "nobody" not found/);
    const short = await fx.kubectl('create', 'token', 'reader', '-n', 'team', '--duration', '5m');
    assert.match(short.stderr, /spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes/);
  });

  void it('a ServiceAccount gets what its Role grants and kube-apiserver’s 403 for the rest', async () => {
    const reader = fx.withToken(readerToken);
    assert.match(await reader.kubectlOk('get', 'pods', '-n', 'team'), /^web\s/m);
    assert.match(await reader.kubectlOk('get', 'pod', 'web', '-n', 'team', '-o', 'name'), /^pod\/web$/m);
    const list = await reader.kubectl('get', 'pods', '-n', 'default');
    assert.notEqual(list.code, 0);
    assert.match(
      list.stderr,
      /Error from server \(Forbidden\): pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" in API group "" in the namespace "default"/,
    );
    const get = await reader.kubectl('get', 'pod', 'web', '-n', 'default');
    assert.match(
      get.stderr,
      /pods "web" is forbidden: User "system:serviceaccount:team:reader" cannot get resource "pods" in API group "" in the namespace "default"/,
    );
    const nodes = await reader.kubectl('get', 'nodes');
    assert.match(
      nodes.stderr,
      /nodes is forbidden: User "system:serviceaccount:team:reader" cannot list resource "nodes" in API group "" at the cluster scope/,
    );
    const del = await reader.kubectl('delete', 'pod', 'web', '-n', 'team');
    assert.match(
      del.stderr,
      /pods "web" is forbidden: User "system:serviceaccount:team:reader" cannot delete resource "pods" in API group "" in the namespace "team"/,
    );
    assert.match(
      await reader.kubectlOk('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'),
      /^system:serviceaccount:team:reader$/,
    );
    const bad = await fx.withToken(`${readerToken}x`).kubectl('get', 'pods', '-n', 'team');
    assert.match(bad.stderr, /Unauthorized/);
  });

  void it('kubectl auth can-i answers for oneself and, with --as, for the ServiceAccount', async () => {
    const reader = fx.withToken(readerToken);
    assert.equal((await reader.kubectlOk('auth', 'can-i', 'list', 'pods', '-n', 'team')).trim(), 'yes');
    const no = await reader.kubectl('auth', 'can-i', 'delete', 'pods', '-n', 'team');
    assert.deepEqual([no.code, no.stdout.trim()], [1, 'no']);
    const as = ['--as', 'system:serviceaccount:team:reader'];
    assert.equal((await fx.kubectlOk('auth', 'can-i', 'watch', 'pods', '-n', 'team', ...as)).trim(), 'yes');
    const asNo = await fx.kubectl('auth', 'can-i', 'get', 'pods', '-n', 'default', ...as);
    assert.deepEqual([asNo.code, asNo.stdout.trim()], [1, 'no']);
    assert.equal((await fx.kubectlOk('auth', 'can-i', 'delete', 'nodes')).trim(), 'yes', 'the admin is in system:masters');
    assert.match(await reader.kubectlOk('auth', 'can-i', '--list', '-n', 'team'), /^pods\s+\[\]\s+\[\]\s+\[get list watch\]\s*$/m);
    // Impersonation itself needs permission: the reader may not act as anyone else.
    const impersonating = await reader.kubectl('get', 'pods', '-n', 'team', '--as', 'jane');
    assert.match(
      impersonating.stderr,
      /users "jane" is forbidden: User "system:serviceaccount:team:reader" cannot impersonate resource "users" in API group "" at the cluster scope/,
    );
  });

  void it('a TokenReview as the controller’s CA sends it authenticates a pod-bound token for its audience', async () => {
    const pod = store.get(store.typeOf({ apiVersion: 'v1', kind: 'Pod' }), 'team', 'web');
    const token = tokens.issue({
      namespace: 'team',
      serviceAccount: 'reader',
      audiences: ['ambit-ca'],
      boundObject: { kind: 'Pod', name: 'web', uid: pod.metadata.uid ?? '' },
    }).token;
    const kc = new KubeConfig();
    kc.loadFromFile(join(fx.dir, 'kubeconfig'));
    const auth = kc.makeApiClient(AuthenticationV1Api);
    const review = await auth.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: ['ambit-ca'] } },
    });
    assert.equal(review.status?.authenticated, true);
    assert.deepEqual(review.status?.audiences, ['ambit-ca']);
    assert.equal(review.status?.user?.username, 'system:serviceaccount:team:reader');
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-uid'], [pod.metadata.uid]);
    const wrongAudience = await auth.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    assert.equal(wrongAudience.status?.authenticated ?? false, false);
    assert.match(wrongAudience.status?.error ?? '', /token audiences \["ambit-ca"\] is invalid for the target audiences/);
    // The reader may not review tokens: that takes `create tokenreviews` (system:auth-delegator).
    const denied = await fx.withToken(readerToken).kubectl('auth', 'can-i', 'create', 'tokenreviews.authentication.k8s.io');
    assert.deepEqual([denied.code, denied.stdout.trim()], [1, 'no']);
  });

  void it('kubectl apply grants through a ClusterRole bound in one namespace (validated against the served OpenAPI)', async () => {
    const reader = fx.withToken(readerToken);
    assert.match((await reader.kubectl('get', 'configmaps', '-n', 'team')).stderr, /configmaps is forbidden/);
    writeFileSync(
      join(fx.dir, 'rbac.yaml'),
      `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "example:configmap-reader"}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: configmap-reader, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "example:configmap-reader"}
subjects:
- {kind: ServiceAccount, name: reader, namespace: team}
`,
    );
    const applied = await fx.kubectlOk('apply', '-f', join(fx.dir, 'rbac.yaml'));
    assert.match(applied, /clusterrole.rbac.authorization.k8s.io\/example:configmap-reader created/);
    assert.match(applied, /rolebinding.rbac.authorization.k8s.io\/configmap-reader created/);
    await reader.kubectlOk('get', 'configmaps', '-n', 'team');
    assert.match((await reader.kubectl('get', 'configmaps', '-n', 'default')).stderr, /configmaps is forbidden/);
  });

  void it('removing a verb from the Role turns an allowed call into a 403', async () => {
    const reader = fx.withToken(readerToken);
    await reader.kubectlOk('get', 'pods', '-n', 'team');
    await fx.kubectlOk(
      'patch',
      'role',
      'pod-reader',
      '-n',
      'team',
      '--type',
      'merge',
      '-p',
      '{"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","watch"]}]}',
    );
    const r = await reader.kubectl('get', 'pods', '-n', 'team');
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" in API group "" in the namespace "team"/,
    );
    assert.match(await reader.kubectlOk('get', 'pod', 'web', '-n', 'team', '-o', 'name'), /^pod\/web$/m, 'get is still granted');
  });
});

function asKubernetes(c: Record<string, unknown>): Record<string, unknown> {
  return asRecord(c['kubernetes.io']);
}
