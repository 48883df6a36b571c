import { X509Certificate } from 'node:crypto';
import { IdentityError } from './identity-error.ts';
import { x509 } from './x509.ts';

export interface CertInfo {
  /** URI SANs in certificate order (SPIFFE IDs for workload certificates). */
  readonly uriSans: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  /** `ECDSA P-256`, `ECDSA P-384`, `RSA 2048`, `Ed25519`, … */
  readonly publicKeyAlgorithm: string;
}

const CURVE_NAMES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function describeKey(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      return `ECDSA ${CURVE_NAMES[details?.namedCurve ?? ''] ?? details?.namedCurve ?? 'unknown'}`;
    case 'rsa':
      return `RSA ${details?.modulusLength ?? 0}`;
    case 'ed25519':
      return 'Ed25519';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

/**
 * Reads the identity-relevant fields of the first certificate in `pem`. URI SANs come from the ASN.1 (not Node's
 * comma-joined `subjectAltName` text, which cannot be split safely when a URI contains a comma).
 */
export function parseCertInfo(pem: string): CertInfo {
  let node: X509Certificate;
  let parsed: x509.X509Certificate;
  try {
    node = new X509Certificate(pem);
    parsed = new x509.X509Certificate(pem);
  } catch (err) {
    throw new IdentityError('INVALID_CERTIFICATE', 'not a PEM X.509 certificate', { cause: err });
  }
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uriSans = (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
  return {
    uriSans,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    isCa: node.ca,
    publicKeyAlgorithm: describeKey(node),
  };
}
