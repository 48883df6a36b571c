import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { parseCertInfo } from './cert-info.ts';
import {
  CREATE_CERTIFICATE_PATH,
  IMPERSONATED_IDENTITY_KEY,
  decodeCertificateResponse,
  encodeCertificateRequest,
  type CertificateResponse,
} from './citadel-proto.ts';
import { createCsr } from './csr.ts';
import { IdentityError } from './identity-error.ts';
import { splitPemCertificates } from './pem.ts';

export interface CaClientOptions {
  /** `unix:/path/to/socket` or `host:port`. */
  readonly target: string;
  /** Verify the CA's serving certificate against these PEM roots; absent means plaintext (unix sockets only, in practice). */
  readonly tls?: { readonly ca: string; readonly serverName?: string };
  /** Bearer token, read per request so a rotated projected token is picked up. An empty string sends none. */
  readonly token: () => string | Promise<string>;
  /** Deadline of one request; default 10000 ms. */
  readonly timeoutMs?: number;
}

export interface FetchedCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM of the key generated for this fetch. */
  readonly keyPem: string;
  /** Intermediates between leaf and root, leaf side first; empty when the root signed the leaf. */
  readonly chainPems: readonly string[];
  readonly rootPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CaClient {
  /** Generates a key + CSR for `identity` and has the CA sign it; `ttlSeconds` default 86400 (ztunnel's SECRET_TTL). */
  fetchCertificate(identity: string, ttlSeconds?: number): Promise<FetchedCertificate>;
  close(): void;
}

const DEFAULT_TTL_SECONDS = 24 * 60 * 60;

function spkiOfKey(keyPem: string): Buffer {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
}

function spkiOfCert(certPem: string): Buffer {
  return createPublicKey(certPem).export({ type: 'spki', format: 'der' });
}

/**
 * Checks what the CA returned before anyone uses it. The leaf must name exactly the identity we asked for (ztunnel
 * refuses otherwise: a CA bug or a confused deputy would let this node present another workload's identity), and must
 * carry the key we generated.
 */
function acceptChain(identity: string, keyPem: string, res: CertificateResponse): FetchedCertificate {
  const pems = res.certChain.flatMap((entry) => splitPemCertificates(entry));
  const [leaf] = pems;
  if (leaf === undefined || pems.length < 2) {
    throw new IdentityError('CA_BAD_RESPONSE', `CA returned ${pems.length} certificate(s) for ${identity}; want leaf … root`);
  }
  const info = parseCertInfo(leaf);
  if (info.uriSans.length !== 1 || info.uriSans[0] !== identity) {
    throw new IdentityError('CA_IDENTITY_MISMATCH', `CA returned a certificate for [${info.uriSans.join(', ')}], requested ${identity}`);
  }
  if (!spkiOfCert(leaf).equals(spkiOfKey(keyPem))) {
    throw new IdentityError('CA_BAD_RESPONSE', `CA returned a certificate for ${identity} that does not carry the requested key`);
  }
  return {
    certPem: leaf,
    keyPem,
    chainPems: pems.slice(1, -1),
    rootPem: pems[pems.length - 1] ?? '',
    notBefore: info.notBefore,
    notAfter: info.notAfter,
  };
}

/** A client of `istio.v1.auth.IstioCertificateService` that asks for certificates on behalf of local workloads. */
export function createCaClient(options: CaClientOptions): CaClient {
  const channelCredentials = options.tls === undefined ? credentials.createInsecure() : credentials.createSsl(Buffer.from(options.tls.ca));
  const channelOptions = options.tls?.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': options.tls.serverName };
  const client = new Client(options.target, channelCredentials, channelOptions);
  const timeoutMs = options.timeoutMs ?? 10_000;

  const call = (body: Buffer, metadata: Metadata): Promise<CertificateResponse> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        CREATE_CERTIFICATE_PATH,
        (b: Buffer) => b,
        decodeCertificateResponse,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res?: CertificateResponse) => {
          if (err !== null) reject(err);
          else if (res === undefined) reject(new Error('BUG: unary call ended without error or response'));
          else resolve(res);
        },
      );
    });

  return {
    async fetchCertificate(identity, ttlSeconds = DEFAULT_TTL_SECONDS) {
      const { csrPem, keyPem } = await createCsr(identity);
      const metadata = new Metadata();
      const token = await options.token();
      if (token !== '') metadata.set('authorization', `Bearer ${token}`);
      const body = encodeCertificateRequest({
        csr: csrPem,
        validitySeconds: ttlSeconds,
        metadata: { [IMPERSONATED_IDENTITY_KEY]: identity },
      });
      let res: CertificateResponse;
      try {
        res = await call(body, metadata);
      } catch (err) {
        const se = err as Partial<ServiceError>;
        const code = typeof se.code === 'number' ? se.code : status.UNKNOWN;
        const detail = typeof se.details === 'string' ? se.details : String(err);
        throw new IdentityError('CA_REQUEST_FAILED', `CA refused ${identity}: ${status[code] ?? code}: ${detail}`, {
          cause: err,
          grpcCode: code,
        });
      }
      return acceptChain(identity, keyPem, res);
    },
    close() {
      client.close();
    },
  };
}
