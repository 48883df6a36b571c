import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { hasCode, silentLogger } from '@ambit/core';
import { createCaClient, IdentityError } from './core-identity.ts';
import { addCaService } from './ca-service.ts';
import { runningPod, startFakeKubeAuthApi, type FakeKubeAuthApi } from '../../testing/fake-kube-auth-api.ts';
import { FileRootStore } from './file-root-store.ts';
import { createMeshCa } from './mesh-ca.ts';
import { TokenReviewAuthenticator } from './token-review-authenticator.ts';

const ADMIN = 'controller-token';
let api: FakeKubeAuthApi;
let dir: string;

before(async () => {
  api = await startFakeKubeAuthApi(ADMIN);
  dir = await mkdtemp(join(tmpdir(), 'token-review-'));
});
after(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

/** A ztunnel pod on `node` with a projected token bound to it, as the kubelet would mint. */
function ztunnelOn(node: string, audiences: readonly string[] = ['ambit-ca']): { token: string; podName: string } {
  const podName = `ztunnel-${randomUUID().slice(0, 5)}`;
  const pod = runningPod('ambit-system', podName, 'ztunnel', node);
  api.pods.set(`ambit-system/${podName}`, pod);
  const token = `tok-${randomUUID()}`;
  api.tokens.push({
    token,
    namespace: 'ambit-system',
    serviceAccount: 'ztunnel',
    audiences,
    boundPod: { name: podName, uid: pod.metadata?.uid ?? '' },
  });
  return { token, podName };
}

function authenticator(): TokenReviewAuthenticator {
  return new TokenReviewAuthenticator({ kubeConfig: api.kubeConfig, audience: 'ambit-ca', trustedAccounts: ['ambit-system/ztunnel'] });
}

function refusedWith(code: string, says: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(hasCode(err, code), String(err));
    assert.match((err as Error).message, says);
    return true;
  };
}

test('a pod-bound ztunnel token for our audience authenticates as its pod’s node', async () => {
  const { token, podName } = ztunnelOn('node-7');
  assert.deepEqual(await authenticator().authenticate(token), { node: 'node-7', caller: `ambit-system/ztunnel (pod ${podName})` });
});

test('a pod-bound token of any other account is a workload limited to its own identity', async () => {
  api.tokens.push({
    token: 'waypoint-token',
    namespace: 'mesh',
    serviceAccount: 'waypoint',
    audiences: ['ambit-ca'],
    boundPod: { name: 'waypoint-1', uid: 'w1' },
  });
  api.pods.set('mesh/waypoint-1', {
    ...runningPod('mesh', 'waypoint-1', 'waypoint', 'node-1'),
    metadata: { name: 'waypoint-1', namespace: 'mesh', uid: 'w1' },
  });
  assert.deepEqual(await authenticator().authenticate('waypoint-token'), {
    kind: 'workload',
    namespace: 'mesh',
    serviceAccount: 'waypoint',
    caller: 'mesh/waypoint (pod waypoint-1)',
  });
  // The same checks as for node proxies: a token not bound to a pod, or bound to one that is gone, is refused.
  api.tokens.push({ token: 'waypoint-legacy', namespace: 'mesh', serviceAccount: 'waypoint', audiences: ['ambit-ca'] });
  await assert.rejects(authenticator().authenticate('waypoint-legacy'), refusedWith('CA_BAD_TOKEN', /not bound to a pod/));
  api.pods.delete('mesh/waypoint-1');
  await assert.rejects(authenticator().authenticate('waypoint-token'), refusedWith('CA_BAD_TOKEN', /not found/));
});

test('refusals: unknown token, wrong audience, account mismatch, unbound token, deleted pod', async () => {
  const wrongAudience = ztunnelOn('node-1', ['istio-ca']).token;
  api.tokens.push({
    token: 'app-token',
    namespace: 'default',
    serviceAccount: 'reviews',
    audiences: ['ambit-ca'],
    boundPod: { name: 'reviews-1', uid: 'u1' },
  });
  // The pod the token is bound to runs as another account than the token's.
  api.pods.set('default/reviews-1', {
    ...runningPod('default', 'reviews-1', 'ratings', 'node-1'),
    metadata: { name: 'reviews-1', namespace: 'default', uid: 'u1' },
  });
  api.tokens.push({ token: 'legacy-token', namespace: 'ambit-system', serviceAccount: 'ztunnel', audiences: ['ambit-ca'] });
  const gone = ztunnelOn('node-1');
  api.pods.delete(`ambit-system/${gone.podName}`);

  const cases: ReadonlyArray<{ name: string; token: string; says: RegExp }> = [
    { name: 'unknown', token: 'nope', says: /not authenticated: \[invalid bearer token/ },
    { name: 'wrong audience', token: wrongAudience, says: /is invalid for the target audiences/ },
    { name: 'account mismatch', token: 'app-token', says: /runs as ratings, the token is for reviews/ },
    { name: 'not pod-bound', token: 'legacy-token', says: /not bound to a pod/ },
    { name: 'bound pod deleted', token: gone.token, says: /not found/ },
  ];
  for (const c of cases) await assert.rejects(authenticator().authenticate(c.token), refusedWith('CA_BAD_TOKEN', c.says), c.name);
});

test('a pod replaced under the same name between review and lookup is refused (UID check)', async () => {
  const { token, podName } = ztunnelOn('node-1');
  api.afterReview = () => {
    api.afterReview = undefined;
    api.pods.set(`ambit-system/${podName}`, runningPod('ambit-system', podName, 'ztunnel', 'node-2'));
  };
  await assert.rejects(authenticator().authenticate(token), refusedWith('CA_BAD_TOKEN', /has UID .* the token was issued for UID/));
});

test('the API refusing the controller itself is an unavailable backend, not a bad caller token', async () => {
  const { token } = ztunnelOn('node-1');
  const badController = new TokenReviewAuthenticator({ kubeConfig: withToken(api.kubeConfig, 'not-the-controller') });
  await assert.rejects(badController.authenticate(token), refusedWith('CA_AUTH_BACKEND_UNAVAILABLE', /HTTP 401/));
});

test('end to end: ztunnel on node-3 gets a certificate for a workload on node-3 only', async () => {
  const ca = await createMeshCa({ trustDomain: 'cluster.local', rootStore: new FileRootStore(join(dir, 'root')), log: silentLogger() });
  const server = new Server();
  addCaService(server, {
    ca,
    authenticator: authenticator(),
    serviceAccountOnNode: (ns, sa, node) => ns === 'default' && sa === 'reviews' && node === 'node-3',
    log: silentLogger(),
  });
  const target = `unix:${join(dir, 'ca.sock')}`;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(target, ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
  );
  const onNode3 = createCaClient({ target, token: () => ztunnelOn('node-3').token });
  const onNode4 = createCaClient({ target, token: () => ztunnelOn('node-4').token });
  try {
    const got = await onNode3.fetchCertificate('spiffe://cluster.local/ns/default/sa/reviews');
    assert.equal(got.rootPem, ca.rootCertPem());
    await assert.rejects(onNode4.fetchCertificate('spiffe://cluster.local/ns/default/sa/reviews'), (err: unknown) => {
      assert.ok(err instanceof IdentityError);
      assert.equal(err.grpcCode, status.PERMISSION_DENIED);
      assert.match(err.message, /node node-4 may not request/);
      return true;
    });
  } finally {
    onNode3.close();
    onNode4.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
});

/** The same cluster, authenticated as someone the API server does not know. */
function withToken(kc: KubeConfig, token: string): KubeConfig {
  const cluster = kc.getCurrentCluster();
  assert.ok(cluster !== null);
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'other', token }],
    contexts: [{ name: 'c', cluster: cluster.name, user: 'other' }],
    currentContext: 'c',
  });
  return copy;
}
