// CSRs signed per second by the mesh CA, sequential and 8 concurrent, in-process (MeshCa.signCsr) and end to end over
// gRPC on a unix socket (auth + impersonation check + CSR policy + signing). Baseline in the same run: bare ECDSA
// P-256 signatures through WebCrypto, the floor under every certificate. Not a test; `npm run bench` runs it.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Metadata, Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import { silentLogger } from '@ambit/core';
import { addCaService, createMeshCa, FileRootStore, NodeCredentialAuthenticator } from '../controller/src/ca/index.ts';
import {
  CREATE_CERTIFICATE_PATH,
  createCsr,
  decodeCertificateResponse,
  encodeCertificateRequest,
  generateP256KeyPair,
  subtle,
} from '../core/src/identity/index.ts';

const N = 400;
const WARMUP = 40;
const ID = 'spiffe://cluster.local/ns/default/sa/bench';

/** Runs `op(i)` for i in [0, n) with `concurrency` workers; returns operations per second. */
async function rate(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) await op(i);
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

const dir = await mkdtemp(join(tmpdir(), 'ca-bench-'));
const server = new Server();
let client: Client | undefined;
try {
  const csrs = await Promise.all(Array.from({ length: N + WARMUP }, async () => (await createCsr(ID)).csrPem));
  const ca = await createMeshCa({ trustDomain: 'cluster.local', rootStore: new FileRootStore(join(dir, 'root')), log: silentLogger() });
  addCaService(server, {
    ca,
    authenticator: new NodeCredentialAuthenticator({ 'bench-token': 'node-1' }),
    serviceAccountOnNode: () => true,
    log: silentLogger(),
  });
  const target = `unix:${join(dir, 'ca.sock')}`;
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(target, ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
  );
  const grpcClient = new Client(target, credentials.createInsecure());
  client = grpcClient;
  const metadata = new Metadata();
  metadata.set('authorization', 'Bearer bench-token');
  const bodies = csrs.map((csr) => encodeCertificateRequest({ csr, validitySeconds: 86_400, metadata: { ImpersonatedIdentity: ID } }));
  const grpcSign = (i: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      grpcClient.makeUnaryRequest(
        CREATE_CERTIFICATE_PATH,
        (b: Buffer) => b,
        decodeCertificateResponse,
        bodies[i] ?? Buffer.alloc(0),
        metadata,
        (err, res) => (err === null ? resolve(res) : reject(err)),
      );
    });
  const keys = await generateP256KeyPair();
  const tbs = new Uint8Array(400);
  const rawSign = (): Promise<unknown> => subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, tbs);
  const caSign = (i: number): Promise<unknown> => ca.signCsr({ csrPem: csrs[i] ?? '', identity: ID });

  // Warm-up: JIT, the thread pool, the gRPC connection.
  await rate(WARMUP, 1, rawSign);
  await rate(WARMUP, 1, (i) => caSign(N + i));
  await rate(WARMUP, 1, (i) => grpcSign(N + i));

  const rows: Array<[string, number, number]> = [];
  for (const concurrency of [1, 8]) {
    const baseline = await rate(N, concurrency, rawSign);
    rows.push([`WebCrypto ECDSA P-256 sign (baseline)`, concurrency, baseline]);
    rows.push([`MeshCa.signCsr (verify CSR + issue leaf)`, concurrency, await rate(N, concurrency, caSign)]);
    rows.push([`gRPC CreateCertificate over unix socket`, concurrency, await rate(N, concurrency, grpcSign)]);
  }
  console.log(`node ${process.version}, ${cpus().length} CPUs, kernel ${release()}, ${N} operations per row`);
  console.log('what'.padEnd(44), 'conc', 'ops/s'.padStart(8), ' ratio to baseline');
  for (const [what, conc, opsPerSecond] of rows) {
    const baseline = rows.find(([w, c]) => c === conc && w.includes('baseline'))?.[2] ?? opsPerSecond;
    console.log(what.padEnd(44), String(conc).padStart(4), opsPerSecond.toFixed(0).padStart(8), ` ${(opsPerSecond / baseline).toFixed(3)}`);
  }
} finally {
  client?.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await rm(dir, { recursive: true, force: true });
}
