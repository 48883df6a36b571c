import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hasCode, silentLogger } from '@ambit/core';
import { createCaCertificate, createCsr, parseCertInfo, x509 } from './core-identity.ts';
import { FileRootStore } from './file-root-store.ts';
import { createMeshCa, type MeshCaOptions } from './mesh-ca.ts';
import type { CaMaterial, PluggedCaSource } from './root-store.ts';
import { notACa, pluggedCa } from '../../testing/plugged-ca.ts';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/default/sa/reviews`;
const HOUR_S = 3600;
let dir: string;
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mesh-ca-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function freshDir(): string {
  return join(dir, `store-${++n}`);
}

function plugged(material: CaMaterial | undefined): PluggedCaSource {
  return { description: 'test cacerts', load: async () => material };
}

function options(extra: Partial<MeshCaOptions> = {}): MeshCaOptions {
  return { trustDomain: TD, rootStore: new FileRootStore(freshDir()), log: silentLogger(), ...extra };
}

/** Verifies leaf → … → root with Node's X.509, as a TLS peer would. */
function assertChainVerifies(chain: readonly string[], rootPem: string): void {
  const certs = chain.map((p) => new X509Certificate(p));
  assert.equal(chain.at(-1), rootPem, 'root is last');
  certs.forEach((c, i) => {
    const parent = certs[i + 1] ?? c;
    assert.ok(c.checkIssued(parent) && c.verify(parent.publicKey), `certificate ${i} is signed by the next one`);
  });
}

test('first start generates a P-256 root (O=ambit.dev, CN=Ambit Root CA, CA, keyCertSign, 10 years) and stores it 0600', async () => {
  const storeDir = freshDir();
  const ca = await createMeshCa(options({ rootStore: new FileRootStore(storeDir) }));
  assert.equal(ca.source, 'generated');
  const root = new x509.X509Certificate(ca.rootCertPem());
  assert.equal(root.subject, 'O=ambit.dev, CN=Ambit Root CA');
  assert.equal(root.subject, root.issuer);
  assert.deepEqual(root.publicKey.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
  assert.equal(root.getExtension(x509.BasicConstraintsExtension)?.ca, true);
  assert.ok(((root.getExtension(x509.KeyUsagesExtension)?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign) !== 0);
  const years = (root.notAfter.getTime() - Date.now()) / (365 * 86_400_000);
  assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
  for (const file of ['ca-cert.pem', 'ca-key.pem']) assert.equal((await stat(join(storeDir, file))).mode & 0o777, 0o600, file);
});

test('the root survives a restart: a second CA on the same FileRootStore loads it', async () => {
  const storeDir = freshDir();
  const first = await createMeshCa(options({ rootStore: new FileRootStore(storeDir) }));
  const second = await createMeshCa(options({ rootStore: new FileRootStore(storeDir) }));
  assert.equal(second.source, 'stored');
  assert.equal(second.rootCertPem(), first.rootCertPem());
  const { certChain } = await second.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID });
  assertChainVerifies(certChain, first.rootCertPem());
});

test('a certificate without its key in the store fails start-up instead of silently replacing the root', async () => {
  const storeDir = freshDir();
  await createMeshCa(options({ rootStore: new FileRootStore(storeDir) }));
  await rm(join(storeDir, 'ca-key.pem'));
  await assert.rejects(createMeshCa(options({ rootStore: new FileRootStore(storeDir) })), /ca-key\.pem does not/);
});

test('a leaf has exactly one URI SAN, the TTL asked for, workload key usages, and verifies to the root', async () => {
  const ca = await createMeshCa(options());
  const started = Date.now();
  const { certChain } = await ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID, ttlSeconds: 2 * HOUR_S });
  assert.equal(certChain.length, 2);
  assertChainVerifies(certChain, ca.rootCertPem());
  const leaf = new x509.X509Certificate(certChain[0] ?? '');
  assert.equal(leaf.subject, '');
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [{ type: 'url', value: ID }]);
  assert.equal(san?.critical, true);
  assert.equal(
    leaf.getExtension(x509.KeyUsagesExtension)?.usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
  );
  assert.deepEqual(
    [...(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  );
  assert.equal(leaf.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  assert.ok(leaf.getExtension(x509.SubjectKeyIdentifierExtension) !== null);
  assert.ok(leaf.getExtension(x509.AuthorityKeyIdentifierExtension) !== null);
  // notBefore is back-dated one minute for clock skew; notAfter is now + TTL (both ±5 s for the test's own runtime).
  assert.ok(Math.abs(leaf.notBefore.getTime() - (started - 60_000)) < 5_000);
  assert.ok(Math.abs(leaf.notAfter.getTime() - (started + 2 * HOUR_S * 1000)) < 5_000);
});

test('TTL: ≤ 0 means the default, above the maximum is clamped, never beyond the chain', async () => {
  const ca = await createMeshCa(options({ defaultTtlSeconds: 3 * HOUR_S, maxTtlSeconds: 10 * HOUR_S }));
  const short = await pluggedCa({ intermediateValidityMs: 2 * HOUR_S * 1000 });
  const expiring = await createMeshCa(options({ pluggedCa: plugged(short.material) }));
  const cases: ReadonlyArray<{ name: string; ca: typeof ca; ttl: number | undefined; wantMs: () => number }> = [
    { name: 'asked 1 h', ca, ttl: HOUR_S, wantMs: () => Date.now() + HOUR_S * 1000 },
    { name: 'absent → default 3 h', ca, ttl: undefined, wantMs: () => Date.now() + 3 * HOUR_S * 1000 },
    { name: '0 → default', ca, ttl: 0, wantMs: () => Date.now() + 3 * HOUR_S * 1000 },
    { name: 'negative → default', ca, ttl: -30, wantMs: () => Date.now() + 3 * HOUR_S * 1000 },
    { name: '100 h → max 10 h', ca, ttl: 100 * HOUR_S, wantMs: () => Date.now() + 10 * HOUR_S * 1000 },
    {
      name: 'beyond the intermediate → its expiry',
      ca: expiring,
      ttl: 24 * HOUR_S,
      wantMs: () => parseCertInfo(short.intermediatePem).notAfter.getTime(),
    },
  ];
  for (const c of cases) {
    const { certChain } = await c.ca.signCsr({
      csrPem: (await createCsr(ID)).csrPem,
      identity: ID,
      ...(c.ttl === undefined ? {} : { ttlSeconds: c.ttl }),
    });
    const got = parseCertInfo(certChain[0] ?? '').notAfter.getTime();
    assert.ok(
      Math.abs(got - c.wantMs()) < 5_000,
      `${c.name}: notAfter ${new Date(got).toISOString()}, want ${new Date(c.wantMs()).toISOString()}`,
    );
  }
});

test('refuses identities outside its trust domain, and malformed ones', async () => {
  const ca = await createMeshCa(options());
  const foreign = 'spiffe://other.domain/ns/default/sa/reviews';
  await assert.rejects(ca.signCsr({ csrPem: (await createCsr(foreign)).csrPem, identity: foreign }), (e: unknown) =>
    hasCode(e, 'CA_FOREIGN_TRUST_DOMAIN'),
  );
  await assert.rejects(ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: 'reviews' }), (e: unknown) =>
    hasCode(e, 'CA_INVALID_IDENTITY'),
  );
});

test('a plugged-in intermediate takes precedence over the stored root, and its chain is returned', async () => {
  const storeDir = freshDir();
  const own = await createMeshCa(options({ rootStore: new FileRootStore(storeDir) }));
  const fx = await pluggedCa();
  const ca = await createMeshCa(options({ rootStore: new FileRootStore(storeDir), pluggedCa: plugged(fx.material) }));
  assert.equal(ca.source, 'plugged');
  assert.equal(ca.rootCertPem(), fx.rootPem);
  assert.notEqual(ca.rootCertPem(), own.rootCertPem());
  const { certChain } = await ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID });
  assert.deepEqual(certChain.slice(1), [fx.intermediatePem, fx.rootPem]);
  assertChainVerifies(certChain, fx.rootPem);
});

test('plugged layouts: chain without the signing cert, root only, and a directory in Istio file names', async () => {
  const fx = await pluggedCa();
  const layouts: ReadonlyArray<{ name: string; source: PluggedCaSource }> = [
    {
      name: 'cert-chain.pem = root only',
      source: plugged({ certPem: fx.intermediatePem, keyPem: fx.material.keyPem, chainPem: fx.rootPem, rootPem: fx.rootPem }),
    },
    { name: 'no cert-chain.pem', source: plugged({ certPem: fx.intermediatePem, keyPem: fx.material.keyPem, rootPem: fx.rootPem }) },
    {
      name: 'no root-cert.pem: the chain ends at it',
      source: plugged({ certPem: fx.intermediatePem, keyPem: fx.material.keyPem, chainPem: fx.rootPem }),
    },
  ];
  for (const { name, source } of layouts) {
    const ca = await createMeshCa(options({ pluggedCa: source }));
    const { certChain } = await ca.signCsr({ csrPem: (await createCsr(ID)).csrPem, identity: ID });
    assert.deepEqual(certChain.slice(1), [fx.intermediatePem, fx.rootPem], name);
  }
  const pluggedDir = freshDir();
  await new FileRootStore(pluggedDir).save(fx.material);
  const fromDir = await createMeshCa(options({ pluggedCa: new FileRootStore(pluggedDir) }));
  assert.equal(fromDir.rootCertPem(), fx.rootPem);
});

test('an invalid plugged-in CA fails start-up with a message naming the problem', async () => {
  const fx = await pluggedCa();
  const other = await pluggedCa();
  const now = Date.now();
  const expiredRoot = await createCaCertificate({
    subject: [{ CN: ['Old'] }],
    notBefore: new Date(now - 7200_000),
    notAfter: new Date(now - 3600_000),
  });
  const leafAsCa = await notACa(fx.material);
  const cases: ReadonlyArray<{ name: string; material: CaMaterial; says: RegExp }> = [
    {
      name: 'key of another CA',
      material: { ...fx.material, keyPem: other.material.keyPem },
      says: /ca-key\.pem does not match ca-cert\.pem/,
    },
    {
      name: 'not a CA',
      material: { ...leafAsCa, chainPem: fx.intermediatePem, rootPem: fx.rootPem },
      says: /ca-cert\.pem .* is not a CA certificate/,
    },
    {
      name: 'chain ends at another root',
      material: { ...fx.material, chainPem: fx.intermediatePem + other.rootPem, rootPem: other.rootPem },
      says: /not signed by the next certificate/,
    },
    {
      name: 'root-cert.pem is not a root',
      material: { ...fx.material, chainPem: fx.intermediatePem, rootPem: other.intermediatePem },
      says: /not signed by the next|not self-signed/,
    },
    { name: 'expired', material: expiredRoot, says: /expired at/ },
    { name: 'garbage certificate', material: { certPem: 'garbage', keyPem: fx.material.keyPem }, says: /no PEM certificate/ },
    { name: 'garbage key', material: { ...fx.material, keyPem: 'garbage' }, says: /not a private key/ },
  ];
  for (const c of cases) {
    await assert.rejects(createMeshCa(options({ pluggedCa: plugged(c.material) })), (err: unknown) => {
      assert.ok(hasCode(err, 'CA_MATERIAL_INVALID'), `${c.name}: ${String(err)}`);
      assert.match((err as Error).message, /CA material from test cacerts is invalid/);
      assert.match((err as Error).message, c.says, c.name);
      return true;
    });
  }
});
