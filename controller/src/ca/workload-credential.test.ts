import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Metadata, Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { hasCode, silentLogger } from '@ambit/core';
import {
  CREATE_CERTIFICATE_PATH,
  createCaClient,
  createCsr,
  decodeCertificateResponse,
  encodeCertificateRequest,
  parseCertInfo,
  type CertificateResponse,
} from './core-identity.ts';
import { NodeCredentialAuthenticator } from './authenticator.ts';
import { addCaService } from './ca-service.ts';
import { FileRootStore } from './file-root-store.ts';
import { createMeshCa, type MeshCa } from './mesh-ca.ts';
import { LocalModeAuthenticator, WORKLOAD_CREDENTIAL_PURPOSE, WorkloadCredentials } from './workload-credential.ts';

// Contract 6 in local mode: the controller mints a credential per ServiceAccount (AMBIT_CA_TOKEN in the waypoint's
// Deployment); with it a waypoint gets a certificate for its own identity and for nothing else.

const TD = 'cluster.local';
const WAYPOINT = `spiffe://${TD}/ns/mesh/sa/waypoint`;
const OTHER = `spiffe://${TD}/ns/mesh/sa/reviews`;

let dir: string;
let ca: MeshCa;
let creds: WorkloadCredentials;
let server: Server;
let target: string;
let raw: Client;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'workload-credential-'));
  ca = await createMeshCa({ trustDomain: TD, rootStore: new FileRootStore(join(dir, 'root')), log: silentLogger() });
  creds = new WorkloadCredentials(ca.deriveKey(WORKLOAD_CREDENTIAL_PURPOSE));
  server = new Server();
  addCaService(server, {
    ca,
    authenticator: new LocalModeAuthenticator(new NodeCredentialAuthenticator({ 'node-1-secret': 'node-1' }), creds),
    // Every service account has a pod on node-1: only the workload rule can refuse below.
    serviceAccountOnNode: (_ns, _sa, node) => node === 'node-1',
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

function call(token: string, csr: string, identity?: string): Promise<CertificateResponse | ServiceError | Error> {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const body = encodeCertificateRequest({
    csr,
    validitySeconds: 0,
    metadata: identity === undefined ? {} : { ImpersonatedIdentity: identity },
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

function refused(res: CertificateResponse | ServiceError | Error, code: status, says: RegExp): void {
  assert.ok(res instanceof Error, `expected a refusal, got ${JSON.stringify(res).slice(0, 100)}`);
  const err = res as ServiceError;
  assert.equal(err.code, code, err.details);
  assert.match(err.details, says);
}

test('a minted credential gets its own identity, named or not', async () => {
  const client = createCaClient({ target, token: () => creds.mint('mesh', 'waypoint') });
  try {
    const got = await client.fetchCertificate(WAYPOINT);
    assert.deepEqual(parseCertInfo(got.certPem).uriSans, [WAYPOINT]);
  } finally {
    client.close();
  }
  // Without ImpersonatedIdentity (as Istio's own proxies ask), the CA signs the caller's identity.
  const res = await call(creds.mint('mesh', 'waypoint'), (await createCsr(WAYPOINT)).csrPem);
  assert.ok(!(res instanceof Error), String(res));
  assert.deepEqual(parseCertInfo(res.certChain[0] ?? '').uriSans, [WAYPOINT]);
});

test('a minted credential is refused any other identity, even one with a pod on a node', async () => {
  const res = await call(creds.mint('mesh', 'waypoint'), (await createCsr(OTHER)).csrPem, OTHER);
  refused(
    res,
    status.PERMISSION_DENIED,
    /workload-credential\/mesh\/waypoint may only request its own identity .*sa\/waypoint, not .*sa\/reviews/,
  );
  // Its own identity in the request, but a CSR for another: the CSR policy refuses it.
  const csrForOther = await call(creds.mint('mesh', 'waypoint'), (await createCsr(OTHER)).csrPem, WAYPOINT);
  refused(csrForOther, status.INVALID_ARGUMENT, /is not the requested identity/);
});

test('forged, tampered and foreign credentials are refused as bad tokens', async () => {
  const good = creds.mint('mesh', 'waypoint');
  const [prefix, , mac] = good.split('.');
  const otherAccount = Buffer.from('mesh/reviews').toString('base64url');
  const otherCa = await createMeshCa({ trustDomain: TD, rootStore: new FileRootStore(join(dir, 'other-root')), log: silentLogger() });
  const foreign = new WorkloadCredentials(otherCa.deriveKey(WORKLOAD_CREDENTIAL_PURPOSE)).mint('mesh', 'waypoint');
  const cases: ReadonlyArray<{ name: string; token: string; says: RegExp }> = [
    { name: 'account swapped under the same MAC', token: `${prefix}.${otherAccount}.${mac}`, says: /for mesh\/reviews does not verify/ },
    { name: 'MAC cut short', token: good.slice(0, -4), says: /does not verify/ },
    { name: 'minted by another CA', token: foreign, says: /for mesh\/waypoint does not verify/ },
    { name: 'no MAC', token: `${prefix}.${otherAccount}`, says: /wrong format/ },
    { name: 'no account', token: `${prefix}.${Buffer.from('mesh').toString('base64url')}.${mac}`, says: /names no namespace/ },
  ];
  for (const c of cases) {
    assert.throws(
      () => creds.verify(c.token),
      (err: unknown) => hasCode(err, 'CA_BAD_TOKEN') && c.says.test((err as Error).message),
      c.name,
    );
    refused(await call(c.token, (await createCsr(WAYPOINT)).csrPem, WAYPOINT), status.UNAUTHENTICATED, c.says);
  }
});

test('node credentials still work beside workload credentials', async () => {
  const res = await call('node-1-secret', (await createCsr(OTHER)).csrPem, OTHER);
  assert.ok(!(res instanceof Error), String(res));
  refused(await call('node-9-secret', (await createCsr(OTHER)).csrPem, OTHER), status.UNAUTHENTICATED, /unknown node credential/);
});

test('replicas that load the same CA material mint the same credential; purposes get different keys', async () => {
  const replica = await createMeshCa({ trustDomain: TD, rootStore: new FileRootStore(join(dir, 'root')), log: silentLogger() });
  assert.equal(replica.source, 'stored');
  assert.equal(
    new WorkloadCredentials(replica.deriveKey(WORKLOAD_CREDENTIAL_PURPOSE)).mint('mesh', 'waypoint'),
    creds.mint('mesh', 'waypoint'),
  );
  assert.notDeepEqual(ca.deriveKey('a'), ca.deriveKey('b'));
  assert.equal(ca.deriveKey('a').length, 32);
});
