import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { hasCode, silentLogger } from '@ambit/core';
import { createCsr } from '@ambit/core/identity';
import { createMeshCa } from '../../controller/src/ca/mesh-ca.ts';
import { SecretPluggedCa, SecretRootStore } from '../../controller/src/ca/secret-root-store.ts';
import { pluggedCa } from '../../controller/testing/plugged-ca.ts';
import { LocalApi } from './helpers/local-api.ts';

// The controller's CA in cluster mode against the local Kubernetes-style API server, in-process on 127.0.0.1:0 (real
// HTTP semantics: 404, 409 AlreadyExists, base64 data). Here because it needs both components: controller and local.

const api = new LocalApi();
let kubeConfig: KubeConfig;
let core: CoreV1Api;
const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

before(async () => {
  await api.start();
  kubeConfig = api.kubeConfig();
  core = kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await api.stop();
});

async function deleteSecret(name: string): Promise<void> {
  await core.deleteNamespacedSecret({ namespace: 'ambit-system', name }).catch(() => undefined);
}

function meshCa(pluggedSecret?: string) {
  return createMeshCa({
    trustDomain: 'cluster.local',
    rootStore: new SecretRootStore(kubeConfig),
    ...(pluggedSecret === undefined ? {} : { pluggedCa: new SecretPluggedCa(kubeConfig, { name: pluggedSecret }) }),
    log: silentLogger(),
  });
}

test('the first CA creates Secret ambit-system/ambit-ca; a restarted CA loads the same root from it', async () => {
  await deleteSecret('ambit-ca');
  assert.equal(await new SecretRootStore(kubeConfig).load(), undefined);
  const first = await meshCa();
  assert.equal(first.source, 'generated');
  const secret = await core.readNamespacedSecret({ namespace: 'ambit-system', name: 'ambit-ca' });
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca-cert.pem', 'ca-key.pem']);
  assert.equal(Buffer.from(secret.data?.['ca-cert.pem'] ?? '', 'base64').toString(), first.rootCertPem());

  const second = await meshCa();
  assert.equal(second.source, 'stored');
  assert.equal(second.rootCertPem(), first.rootCertPem());
});

test('replicas starting together agree on one root: the create conflict makes the loser load the winner’s', async () => {
  await deleteSecret('ambit-ca');
  const replicas = await Promise.all([meshCa(), meshCa(), meshCa()]);
  const roots = new Set(replicas.map((ca) => ca.rootCertPem()));
  assert.equal(roots.size, 1);
  // Each replica signs with that root, not with the one it generated and lost.
  for (const ca of replicas) {
    const { certChain } = await ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID });
    assert.equal(certChain.at(-1), [...roots][0]);
  }
});

test('a Secret missing ca-key.pem fails start-up with the Secret named', async () => {
  await deleteSecret('ambit-ca');
  await core.createNamespacedSecret({
    namespace: 'ambit-system',
    body: { metadata: { name: 'ambit-ca' }, data: { 'ca-cert.pem': Buffer.from('x').toString('base64') } },
  });
  await assert.rejects(
    meshCa(),
    (err: unknown) => hasCode(err, 'CA_MATERIAL_INVALID') && /Secret ambit-system\/ambit-ca lacks ca-key\.pem/.test(String(err)),
  );
  await deleteSecret('ambit-ca');
});

test('a user-supplied cacerts Secret is used, and its chain is returned', async () => {
  const fx = await pluggedCa();
  const data = Object.fromEntries(
    Object.entries({
      'ca-cert.pem': fx.material.certPem,
      'ca-key.pem': fx.material.keyPem,
      'cert-chain.pem': fx.material.chainPem ?? '',
      'root-cert.pem': fx.rootPem,
    }).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
  await core.createNamespacedSecret({ namespace: 'ambit-system', body: { metadata: { name: 'cacerts' }, data } });
  try {
    const ca = await meshCa('cacerts');
    assert.equal(ca.source, 'plugged');
    assert.equal(ca.rootCertPem(), fx.rootPem);
    const { certChain } = await ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID });
    assert.deepEqual(certChain.slice(1), [fx.intermediatePem, fx.rootPem]);
  } finally {
    await deleteSecret('cacerts');
  }
});

test('an invalid cacerts Secret fails start-up with a clear error', async () => {
  const fx = await pluggedCa();
  const other = await pluggedCa();
  const data = { 'ca-cert.pem': fx.material.certPem, 'ca-key.pem': other.material.keyPem, 'root-cert.pem': fx.rootPem };
  await core.createNamespacedSecret({
    namespace: 'ambit-system',
    body: {
      metadata: { name: 'cacerts' },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    },
  });
  try {
    await assert.rejects(meshCa('cacerts'), (err: unknown) => {
      assert.ok(hasCode(err, 'CA_MATERIAL_INVALID'), String(err));
      assert.equal(
        (err as Error).message,
        'CA material from Secret ambit-system/cacerts is invalid: ca-key.pem does not match ca-cert.pem',
      );
      return true;
    });
  } finally {
    await deleteSecret('cacerts');
  }
});

test('without a cacerts Secret the plugged source reports nothing', async () => {
  assert.equal(await new SecretPluggedCa(kubeConfig).load(), undefined);
});
