import { createPublicKey } from 'node:crypto';
import { x509 } from './core-identity.ts';
import { CaError } from './ca-error.ts';

/** Largest CSR accepted: a P-256 CSR with one SAN is ~500 bytes; this leaves room and bounds parsing work. */
const MAX_CSR_CHARS = 16 * 1024;
const SAN_OID = '2.5.29.17';

/**
 * Checks a PKCS#10 request against what ztunnel sends (reference istio-ambient.md §5) and returns its public key.
 * The CSR only proves possession of the key: the certificate's identity comes from the authorised request, never
 * from the CSR, so anything in the CSR that could suggest another identity (a subject, a second SAN, a DNS or IP SAN)
 * is refused rather than silently dropped — a client sending it has a bug worth surfacing. Other requested
 * extensions are ignored: the CA sets every extension of the leaf itself.
 */
export async function checkCsr(csrPem: string, identity: string): Promise<x509.PublicKey> {
  const fail = (why: string, cause?: unknown): never => {
    throw new CaError('CA_INVALID_CSR', `CSR for ${identity} refused: ${why}`, cause === undefined ? undefined : { cause });
  };
  if (csrPem.length > MAX_CSR_CHARS) fail(`larger than ${MAX_CSR_CHARS} characters`);
  if (!csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) fail('not a PEM "CERTIFICATE REQUEST"');

  let csr: x509.Pkcs10CertificateRequest;
  let sanExtensions: x509.Extension[];
  let subjectFields: number;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
    sanExtensions = csr.extensions.filter((e) => e.type === SAN_OID);
    subjectFields = csr.subjectName.toJSON().length;
  } catch (err) {
    return fail('does not parse as PKCS#10', err);
  }

  let key;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    return fail('public key does not parse', err);
  }
  const keyType = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails;
  if (!(keyType === 'ec' && details?.namedCurve === 'prime256v1')) {
    const what =
      keyType === 'rsa'
        ? `RSA ${details?.modulusLength ?? 0}`
        : keyType === 'ec'
          ? `EC ${details?.namedCurve ?? 'unknown curve'}`
          : keyType;
    fail(`key is ${what}; only ECDSA P-256 is accepted`);
  }

  let signed = false;
  try {
    signed = await csr.verify();
  } catch (err) {
    fail('signature cannot be checked', err);
  }
  if (!signed) fail('signature does not verify with the CSR key');

  if (subjectFields > 0) fail(`subject must be empty, got "${csr.subject}"`);
  if (sanExtensions.length > 1) fail('more than one subjectAltName extension');
  const [sanExt] = sanExtensions;
  if (sanExt !== undefined) {
    let names: readonly x509.GeneralName[];
    try {
      names = new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items;
    } catch (err) {
      return fail('subjectAltName does not parse', err);
    }
    if (names.length > 1) fail(`${names.length} SANs; at most one URI SAN (the identity) is allowed`);
    const [name] = names;
    if (name !== undefined && name.type !== 'url') fail(`SAN is ${name.type.toUpperCase()} ${name.value}; only a URI SAN is allowed`);
    if (name !== undefined && name.value !== identity) fail(`URI SAN ${name.value} is not the requested identity`);
  }
  return csr.publicKey;
}
