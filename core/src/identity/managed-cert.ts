import { createPrivateKey, createPublicKey } from 'node:crypto';
import { errorMessage } from '../errors.ts';
import type { WorkloadCert as HboneCert } from '../hbone/tls-config.ts';
import type { FetchedCertificate } from './ca-client.ts';
import { parseCertInfo } from './cert-info.ts';
import { CertError } from './cert-error.ts';

/**
 * The credentials a proxy presents for one SPIFFE identity, as the certificate manager holds them: what HBONE's TLS
 * contexts take (`@ambit/core/hbone`'s WorkloadCert: key, chain) plus the identity, trust anchors and validity.
 */
export interface WorkloadCert extends HboneCert {
  /** The SPIFFE URI the leaf carries, e.g. `spiffe://cluster.local/ns/default/sa/bookinfo`. */
  readonly identity: string;
  /** PKCS#8 PEM private key of the leaf. */
  readonly key: string;
  /** Leaf first, then intermediates toward (not including) the root. */
  readonly certChain: readonly string[];
  /** Trust anchors (PEM) for verifying peers. */
  readonly roots: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function sameKey(certPem: string, keyPem: string): boolean {
  const fromCert = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return fromCert.equals(fromKey);
}

/**
 * Checks what a fetch returned before it can be served, and turns it into a WorkloadCert. The CA client checks the SAN
 * too; the manager checks again because it takes any fetch function, and serving a certificate for the wrong identity
 * would let this node impersonate another workload (a proxy rejects such a certificate, reference §5). Validity dates
 * are read from the leaf itself, the one source a peer will also use.
 */
export function acceptCertificate(identity: string, fetched: FetchedCertificate, nowMs: number): WorkloadCert {
  let info: ReturnType<typeof parseCertInfo>;
  try {
    info = parseCertInfo(fetched.certPem);
  } catch (err) {
    throw new CertError('CERT_INVALID', identity, `certificate fetched for ${identity} does not parse: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (info.uriSans.length !== 1 || info.uriSans[0] !== identity) {
    throw new CertError(
      'CERT_IDENTITY_MISMATCH',
      identity,
      `certificate fetched for ${identity} carries URI SANs [${info.uriSans.join(', ')}]`,
    );
  }
  if (info.notAfter.getTime() <= nowMs) {
    throw new CertError('CERT_INVALID', identity, `certificate fetched for ${identity} expired at ${info.notAfter.toISOString()}`);
  }
  let keyMatches: boolean;
  try {
    keyMatches = sameKey(fetched.certPem, fetched.keyPem);
  } catch (err) {
    throw new CertError('CERT_INVALID', identity, `key fetched for ${identity} does not load: ${errorMessage(err)}`, { cause: err });
  }
  if (!keyMatches) throw new CertError('CERT_INVALID', identity, `certificate fetched for ${identity} does not carry the fetched key`);
  return {
    identity,
    key: fetched.keyPem,
    certChain: [fetched.certPem, ...fetched.chainPems],
    roots: fetched.rootPem === '' ? [] : [fetched.rootPem],
    notBefore: info.notBefore,
    notAfter: info.notAfter,
  };
}

/**
 * When to renew: at half-life (reference §5, ztunnel `certificate.rs`), `notBefore + (notAfter − notBefore) / 2`.
 * CAs back-date notBefore for clock skew (ours by 60 s), so for a short-lived certificate that formula can fall
 * before the certificate even arrived and renewal would loop; the lifetime is therefore counted from the later of
 * notBefore and the time we received it. For the usual 24 h certificates the two agree to within 30 s.
 */
export function refreshAtMs(cert: WorkloadCert, receivedAtMs: number): number {
  const startMs = Math.max(cert.notBefore.getTime(), receivedAtMs);
  const endMs = cert.notAfter.getTime();
  return startMs + Math.floor((endMs - startMs) / 2);
}
