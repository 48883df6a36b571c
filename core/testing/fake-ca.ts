import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import {
  certificateServiceDefinition,
  IMPERSONATED_IDENTITY_KEY,
  type CertificateRequest,
  type CertificateResponse,
} from '../src/identity/citadel-proto.ts';
import { createCaCertificate, issueLeafCertificate, loadIssuer, type Issuer } from '../src/identity/issue-cert.ts';
import { generateP256KeyPair, privateKeyPem } from '../src/identity/signing-key.ts';
import { x509 } from '../src/identity/x509.ts';

/**
 * A fake CA for tests of CA clients (ztunnel's cert manager, the CA client itself): a real gRPC server speaking
 * Istio's CreateCertificate that signs whatever identity is asked, with hooks to misbehave. It does none of the real
 * CA's checks; the controller's CA (controller/src/ca) is the one to test those against.
 */
export interface FakeCaOptions {
  /** Unix socket path, or port on 127.0.0.1 (0 picks one). */
  readonly listen: { readonly path: string } | { readonly port: number };
  /** Serve TLS with a certificate for 127.0.0.1 issued by the fake root; default false. */
  readonly tls?: boolean;
  /** Accepted bearer tokens; absent accepts any request, even without a token. */
  readonly tokens?: readonly string[];
  /** The URI SAN put in the leaf for a requested identity; default the identity itself. */
  readonly sanFor?: (requested: string) => string;
}

export interface FakeCa {
  /** A gRPC target for createCaClient. */
  readonly target: string;
  readonly rootPem: string;
  /** Identities asked for, in order. */
  readonly requested: readonly string[];
  close(): Promise<void>;
}

function bearer(call: ServerUnaryCall<CertificateRequest, CertificateResponse>): string {
  const [value] = call.metadata.get('authorization');
  return typeof value === 'string' ? value.replace(/^Bearer\s+/i, '') : '';
}

async function servingCredentials(issuer: Issuer): Promise<ServerCredentials> {
  const keys = await generateP256KeyPair();
  const now = Date.now();
  const certPem = await issueLeafCertificate({
    publicKey: keys.publicKey,
    sans: [{ type: 'ip', value: '127.0.0.1' }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    issuer,
  });
  return ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from(certPem), private_key: Buffer.from(await privateKeyPem(keys.privateKey)) }],
    false,
  );
}

export async function startFakeCa(options: FakeCaOptions): Promise<FakeCa> {
  const now = Date.now();
  const root = await createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: ['Ambit Fake CA'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
  });
  const issuer = await loadIssuer(root.certPem, root.keyPem);
  const requested: string[] = [];
  const server = new Server();
  server.addService(certificateServiceDefinition, {
    CreateCertificate: (call: ServerUnaryCall<CertificateRequest, CertificateResponse>, done: sendUnaryData<CertificateResponse>) => {
      const identity = call.request.metadata[IMPERSONATED_IDENTITY_KEY];
      if (options.tokens !== undefined && !options.tokens.includes(bearer(call))) {
        done({ code: status.UNAUTHENTICATED, details: 'fake CA: unknown token' });
        return;
      }
      if (typeof identity !== 'string') {
        done({ code: status.INVALID_ARGUMENT, details: 'ImpersonatedIdentity required' });
        return;
      }
      requested.push(identity);
      const sign = async (): Promise<CertificateResponse> => {
        const csr = new x509.Pkcs10CertificateRequest(call.request.csr);
        const ttlMs = (call.request.validitySeconds > 0 ? call.request.validitySeconds : 86_400) * 1000;
        const leaf = await issueLeafCertificate({
          publicKey: csr.publicKey,
          sans: [{ type: 'url', value: options.sanFor?.(identity) ?? identity }],
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + ttlMs),
          issuer,
        });
        return { certChain: [leaf, root.certPem] };
      };
      sign().then(
        (res) => done(null, res),
        (err: unknown) => done({ code: status.INVALID_ARGUMENT, details: `fake CA: ${String(err)}` }),
      );
    },
  });
  const creds = options.tls === true ? await servingCredentials(issuer) : ServerCredentials.createInsecure();
  const address = 'path' in options.listen ? `unix:${options.listen.path}` : `127.0.0.1:${options.listen.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, creds, (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  return {
    target: 'path' in options.listen ? address : `127.0.0.1:${port}`,
    rootPem: root.certPem,
    requested,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}
