import { X509Certificate, createPrivateKey } from 'node:crypto';
import { loadIssuer, splitPemCertificates, x509, type Issuer } from './core-identity.ts';
import { CaError } from './ca-error.ts';
import type { CaMaterial } from './root-store.ts';

/** Material that passed validation, ready to sign. */
export interface SigningAuthority {
  readonly issuer: Issuer;
  /** What follows a leaf in a response: the signing certificate, any intermediates, the root last. */
  readonly chainPems: readonly string[];
  readonly rootPem: string;
  /** Earliest expiry along the chain: no leaf may outlive it, or it would stop verifying early. */
  readonly notAfter: Date;
  /** The signing key (PKCS#8 DER): the secret every replica shares, from which credential keys are derived. */
  readonly keyDer: Buffer;
}

function parseOne(pem: string, what: string, fail: (why: string) => never): X509Certificate {
  const [first] = splitPemCertificates(pem);
  if (first === undefined) fail(`${what} holds no PEM certificate`);
  try {
    return new X509Certificate(first ?? '');
  } catch (err) {
    return fail(`${what} does not parse as X.509 (${(err as Error).message})`);
  }
}

/** Subject for messages; `subject` is undefined for an empty subject, so fall back to the serial. */
function describe(cert: X509Certificate): string {
  const subject = (cert.subject as string | undefined) ?? '';
  return subject === '' ? `serial ${cert.serialNumber}` : subject.replace(/\n/g, ', ');
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

function canSignCertificates(pem: string): boolean {
  const ku = new x509.X509Certificate(pem).getExtension(x509.KeyUsagesExtension);
  // RFC 5280 §4.2.1.3: without the extension the key is unrestricted.
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

/**
 * Checks CA material before the CA serves with it, so a bad plug-in Secret stops the controller at start-up with a
 * message naming the problem, instead of handing out certificates nobody can verify. Checks: the key matches the
 * certificate; every certificate on the path is a CA allowed to sign certificates and valid now; each is signed by
 * the next; the path ends at the root, which is self-signed.
 */
export async function validateCaMaterial(material: CaMaterial, source: string, now: Date): Promise<SigningAuthority> {
  const fail = (why: string): never => {
    throw new CaError('CA_MATERIAL_INVALID', `CA material from ${source} is invalid: ${why}`);
  };
  const cert = parseOne(material.certPem, 'ca-cert.pem', fail);
  let key;
  try {
    key = createPrivateKey(material.keyPem);
  } catch (err) {
    return fail(`ca-key.pem is not a private key Node can load (${(err as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) fail('ca-key.pem does not match ca-cert.pem');

  // Path: signing cert, then cert-chain.pem minus a leading copy of the signing cert, then the root if not already last.
  const chain = splitPemCertificates(material.chainPem ?? '').map((p, i) => parseOne(p, `cert-chain.pem certificate ${i + 1}`, fail));
  if (chain[0]?.raw.equals(cert.raw) === true) chain.shift();
  const root = material.rootPem === undefined ? (chain.at(-1) ?? cert) : parseOne(material.rootPem, 'root-cert.pem', fail);
  const path = [cert, ...chain];
  if (!path.at(-1)?.raw.equals(root.raw)) path.push(root);

  path.forEach((c, i) => {
    const name = i === 0 ? 'ca-cert.pem' : i === path.length - 1 ? 'root-cert.pem' : `intermediate ${i}`;
    if (!c.ca) fail(`${name} (${describe(c)}) is not a CA certificate (basicConstraints CA:TRUE missing)`);
    if (!canSignCertificates(c.toString())) fail(`${name} lacks keyUsage keyCertSign`);
    if (new Date(c.validTo) <= now) fail(`${name} expired at ${new Date(c.validTo).toISOString()}`);
    if (new Date(c.validFrom) > now) fail(`${name} is not valid before ${new Date(c.validFrom).toISOString()}`);
    const parent = path[i + 1];
    if (parent !== undefined && !(c.checkIssued(parent) && c.verify(parent.publicKey))) {
      fail(`${name} is not signed by the next certificate of the chain; the chain must end at root-cert.pem`);
    }
  });
  if (!isSelfSigned(root)) fail('root-cert.pem is not self-signed; the chain must end at a root');

  const notAfter = new Date(Math.min(...path.map((c) => new Date(c.validTo).getTime())));
  return {
    issuer: await loadIssuer(cert.toString(), material.keyPem),
    chainPems: path.map((c) => c.toString()),
    rootPem: root.toString(),
    notAfter,
    keyDer: key.export({ type: 'pkcs8', format: 'der' }),
  };
}
