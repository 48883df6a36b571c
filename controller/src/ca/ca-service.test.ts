import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Metadata, Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { silentLogger } from '@ambit/core';
import {
  CREATE_CERTIFICATE_PATH,
  createCaClient,
  createCsr,
  decodeCertificateResponse,
  encodeCertificateRequest,
  parseCertInfo,
  x509,
  type CertificateResponse,
} from './core-identity.ts';
import { NodeCredentialAuthenticator } from './authenticator.ts';
import { createCaMetrics } from './ca-metrics.ts';
import { addCaService } from './ca-service.ts';
import { FileRootStore } from './file-root-store.ts';
import { createMeshCa, type MeshCa } from './mesh-ca.ts';
import { oddCsr } from '../../testing/odd-csrs.ts';

// The CA end to end over a real gRPC server on a unix socket: the node-credential authenticator, impersonation
// rules, CSR policy and the status each refusal maps to.

const TD = 'cluster.local';
const REVIEWS = `spiffe://${TD}/ns/default/sa/reviews`; // has a pod on node-1
const RATINGS = `spiffe://${TD}/ns/default/sa/ratings`; // has a pod on node-2 only
const TOKENS = { 'node-1-secret': 'node-1', 'node-2-secret': 'node-2' };
const PODS: ReadonlyArray<readonly [string, string, string]> = [
  ['default', 'reviews', 'node-1'],
  ['default', 'ratings', 'node-2'],
];

let dir: string;
let server: Server;
let target: string;
let ca: MeshCa;
let raw: Client;
const registry = new Registry();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-service-'));
  ca = await createMeshCa({ trustDomain: TD, rootStore: new FileRootStore(join(dir, 'root')), log: silentLogger() });
  server = new Server();
  addCaService(server, {
    ca,
    authenticator: new NodeCredentialAuthenticator(TOKENS),
    serviceAccountOnNode: (ns, sa, node) => PODS.some(([n, s, nd]) => n === ns && s === sa && nd === node),
    metrics: createCaMetrics(registry),
    log: silentLogger(),
  });
  target = `unix:${join(dir, 'ca.sock')}`;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(target, ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
  );
  raw = new Client(target, credentials.createInsecure());
});

after(async () => {
  raw.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

interface RawCall {
  readonly token?: string;
  readonly csr: string;
  readonly identity?: string;
  readonly ttlSeconds?: number;
}

/** A hand-made request, for what createCaClient would never send. Resolves to the chain or the gRPC error. */
function call(req: RawCall): Promise<CertificateResponse | ServiceError | Error> {
  const metadata = new Metadata();
  if (req.token !== undefined) metadata.set('authorization', `Bearer ${req.token}`);
  const body = encodeCertificateRequest({
    csr: req.csr,
    validitySeconds: req.ttlSeconds ?? 0,
    metadata: req.identity === undefined ? {} : { ImpersonatedIdentity: req.identity },
  });
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      CREATE_CERTIFICATE_PATH,
      (b: Buffer) => b,
      decodeCertificateResponse,
      body,
      metadata,
      (err, res) => resolve(err ?? res ?? new Error('no response')),
    );
  });
}

test('a node-1 caller gets a certificate for a service account with a pod on node-1', async () => {
  const client = createCaClient({ target, token: () => 'node-1-secret' });
  try {
    const started = Date.now();
    const got = await client.fetchCertificate(REVIEWS, 3 * 3600);
    assert.equal(got.rootPem, ca.rootCertPem());
    assert.deepEqual(got.chainPems, []);
    const leaf = new x509.X509Certificate(got.certPem);
    assert.deepEqual(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'url', value: REVIEWS }]);
    assert.equal(
      leaf.getExtension(x509.KeyUsagesExtension)?.usages,
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    assert.deepEqual(
      [...(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    );
    assert.ok(Math.abs(got.notAfter.getTime() - (started + 3 * 3_600_000)) <= 60_000, 'TTL as requested, ±1 min');
    const node = new X509Certificate(got.certPem);
    const root = new X509Certificate(got.rootPem);
    assert.ok(node.checkIssued(root) && node.verify(root.publicKey), 'leaf verifies to the root');
  } finally {
    client.close();
  }
});

test('a TTL above the maximum is clamped to 90 days, not refused', async () => {
  const client = createCaClient({ target, token: () => 'node-1-secret' });
  try {
    const got = await client.fetchCertificate(REVIEWS, 1000 * 86_400);
    assert.ok(Math.abs(got.notAfter.getTime() - (Date.now() + 90 * 86_400_000)) < 60_000);
  } finally {
    client.close();
  }
});

const refusals: ReadonlyArray<{ name: string; req: () => Promise<RawCall>; code: status; says: RegExp }> = [
  {
    name: 'a service account with no pod on the caller node',
    req: async () => ({ token: 'node-1-secret', identity: RATINGS, csr: (await createCsr(RATINGS)).csrPem }),
    code: status.PERMISSION_DENIED,
    says: /node node-1 may not request spiffe:\/\/cluster\.local\/ns\/default\/sa\/ratings/,
  },
  {
    name: 'a wrong token',
    req: async () => ({ token: 'guess', identity: REVIEWS, csr: (await createCsr(REVIEWS)).csrPem }),
    code: status.UNAUTHENTICATED,
    says: /unknown node credential/,
  },
  {
    name: 'no token',
    req: async () => ({ identity: REVIEWS, csr: (await createCsr(REVIEWS)).csrPem }),
    code: status.UNAUTHENTICATED,
    says: /missing "authorization: Bearer/,
  },
  {
    name: 'a wrong token and a garbage CSR (authentication comes first)',
    req: async () => ({ token: 'guess', identity: REVIEWS, csr: 'garbage' }),
    code: status.UNAUTHENTICATED,
    says: /unknown node credential/,
  },
  {
    name: 'an RSA-key CSR',
    req: async () => ({
      token: 'node-1-secret',
      identity: REVIEWS,
      csr: await oddCsr({ key: 'rsa2048', sans: [{ type: 'url', value: REVIEWS }] }),
    }),
    code: status.INVALID_ARGUMENT,
    says: /only ECDSA P-256/,
  },
  {
    name: 'a CSR with extra SANs',
    req: async () => ({
      token: 'node-1-secret',
      identity: REVIEWS,
      csr: await oddCsr({
        sans: [
          { type: 'url', value: REVIEWS },
          { type: 'dns', value: 'reviews.default.svc' },
        ],
      }),
    }),
    code: status.INVALID_ARGUMENT,
    says: /2 SANs/,
  },
  {
    name: 'a CSR with a CN',
    req: async () => ({
      token: 'node-1-secret',
      identity: REVIEWS,
      csr: await oddCsr({ subject: 'CN=reviews', sans: [{ type: 'url', value: REVIEWS }] }),
    }),
    code: status.INVALID_ARGUMENT,
    says: /subject must be empty/,
  },
  {
    name: 'garbage bytes',
    req: async () => ({ token: 'node-1-secret', identity: REVIEWS, csr: '\u0001\u0002garbage' }),
    code: status.INVALID_ARGUMENT,
    says: /not a PEM/,
  },
  {
    name: 'a CSR SAN that is not the requested identity',
    req: async () => ({ token: 'node-1-secret', identity: REVIEWS, csr: (await createCsr(RATINGS)).csrPem }),
    code: status.INVALID_ARGUMENT,
    says: /is not the requested identity/,
  },
  {
    name: 'a foreign trust domain',
    req: async () => ({
      token: 'node-1-secret',
      identity: 'spiffe://evil.example/ns/default/sa/reviews',
      csr: (await createCsr('spiffe://evil.example/ns/default/sa/reviews')).csrPem,
    }),
    code: status.PERMISSION_DENIED,
    says: /trust domain evil\.example, not cluster\.local/,
  },
  {
    name: 'no ImpersonatedIdentity',
    req: async () => ({ token: 'node-1-secret', csr: (await createCsr(REVIEWS)).csrPem }),
    code: status.INVALID_ARGUMENT,
    says: /^ImpersonatedIdentity required$/,
  },
  {
    name: 'a malformed identity',
    req: async () => ({ token: 'node-1-secret', identity: 'default/reviews', csr: (await createCsr(REVIEWS)).csrPem }),
    code: status.INVALID_ARGUMENT,
    says: /invalid SPIFFE identity/,
  },
];

for (const { name, req, code, says } of refusals) {
  test(`refuses ${name} with ${status[code]}`, async () => {
    const res = await call(await req());
    assert.ok(res instanceof Error, `expected a refusal, got ${JSON.stringify(res).slice(0, 100)}`);
    const { code: got, details } = res as ServiceError;
    assert.equal(got, code, details);
    assert.match(details, says);
  });
}

test('the same request succeeds for node-2, whose pod it is', async () => {
  const res = await call({ token: 'node-2-secret', identity: RATINGS, csr: (await createCsr(RATINGS)).csrPem, ttlSeconds: 600 });
  assert.ok(!(res instanceof Error), String(res));
  assert.deepEqual(parseCertInfo(res.certChain[0] ?? '').uriSans, [RATINGS]);
});

test('metrics count issued and refused requests by reason', async () => {
  const text = await registry.metrics();
  const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? 'NaN');
  // Every test above ran before this one (node:test runs a file's tests in order).
  assert.equal(value('citadel_server_success_cert_issuance_count'), 3);
  assert.equal(value('citadel_server_csr_count'), 3 + refusals.length);
  assert.equal(value('ambit_ca_refused_total{reason="not_on_node"}'), 1);
  assert.equal(value('ambit_ca_refused_total{reason="bad_token"}'), 2);
  assert.equal(value('ambit_ca_refused_total{reason="no_token"}'), 1);
  assert.equal(value('ambit_ca_refused_total{reason="invalid_csr"}'), 5);
  assert.equal(value('ambit_ca_refused_total{reason="foreign_trust_domain"}'), 1);
  assert.equal(value('ambit_ca_refused_total{reason="identity_required"}'), 1);
  assert.equal(value('ambit_ca_refused_total{reason="invalid_identity"}'), 1);
});
