import { randomBytes } from 'node:crypto';
import { importSigningKey, generateP256KeyPair, privateKeyPem, type SigningKey } from './signing-key.ts';
import { IdentityError } from './identity-error.ts';
import { x509, type CryptoKey } from './x509.ts';

/** A CA certificate and its key: what signs leaves (and, for roots, intermediates). */
export interface Issuer {
  readonly cert: x509.X509Certificate;
  readonly signingKey: SigningKey;
}

/** A SAN of a leaf: SPIFFE URI for workloads; DNS or IP for serving certificates. */
export interface LeafSan {
  readonly type: 'url' | 'dns' | 'ip';
  readonly value: string;
}

export interface LeafOptions {
  /** The subject's key, e.g. a CSR's (already checked by the caller). */
  readonly publicKey: x509.PublicKey | CryptoKey;
  readonly sans: readonly LeafSan[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly issuer: Issuer;
}

export interface CaCertificateOptions {
  /** Subject as x509 JSON, outermost RDN first, e.g. `[{ O: ['ambit.dev'] }, { CN: ['Ambit Root CA'] }]`. */
  readonly subject: x509.JsonName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Signs the new certificate; absent makes a self-signed root. */
  readonly issuer?: Issuer;
  /**
   * DNS names or IPs the certificate also serves TLS for (adds subjectAltName and extendedKeyUsage serverAuth): a
   * self-signed root that is its own serving certificate, as the local API's on 127.0.0.1. Default none.
   */
  readonly sans?: readonly LeafSan[];
}

/** Loads PEM certificate + key as an issuer; the caller validates that they match and that the cert is a CA. */
export async function loadIssuer(certPem: string, keyPem: string): Promise<Issuer> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (err) {
    throw new IdentityError('INVALID_CERTIFICATE', 'CA certificate is not a PEM X.509 certificate', { cause: err });
  }
  return { cert, signingKey: await importSigningKey(keyPem) };
}

/** A random positive 128-bit serial (RFC 5280 §4.1.2.2: unique per issuer, at most 20 octets, positive). */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  // Clearing the top bit keeps the DER INTEGER positive without a 0x00 pad; a set low bit of byte 0 keeps it 16 bytes.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/**
 * The authority key identifier must equal the issuer's subject key identifier byte for byte, or path building in
 * Go and rustls fails: copy the issuer's SKI when it has one (plugged CAs may use any SKI method), else compute it.
 */
async function authorityKeyId(issuer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey);
}

/**
 * Issues an end-entity certificate with Istio's workload profile: empty subject, the given SANs only (critical,
 * as RFC 5280 §4.2.1.6 requires when the subject is empty), digitalSignature+keyEncipherment, serverAuth+clientAuth,
 * CA:false. Returns PEM.
 */
export async function issueLeafCertificate(options: LeafOptions): Promise<string> {
  const { issuer } = options;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    // The issuer Name is copied from the CA certificate's encoded subject so verifiers comparing raw bytes match it.
    issuer: issuer.cert.subjectName,
    subject: '',
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    publicKey: options.publicKey,
    signingKey: issuer.signingKey.key,
    signingAlgorithm: issuer.signingKey.algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        options.sans.map((s) => ({ type: s.type, value: s.value })),
        true,
      ),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.SubjectKeyIdentifierExtension.create(options.publicKey),
      await authorityKeyId(issuer.cert),
    ],
  });
  return `${cert.toString('pem')}\n`;
}

/**
 * Creates an ECDSA P-256 CA certificate: a self-signed root, or an intermediate when `issuer` is given; with `sans`,
 * one that also serves TLS under those names.
 */
export async function createCaCertificate(options: CaCertificateOptions): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateP256KeyPair();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (options.sans !== undefined && options.sans.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(options.sans.map((s) => ({ type: s.type, value: s.value }))),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    );
  }
  const common = { serialNumber: randomSerialHex(), notBefore: options.notBefore, notAfter: options.notAfter };
  let cert: x509.X509Certificate;
  if (options.issuer === undefined) {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      ...common,
      name: options.subject,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
    });
  } else {
    const { issuer } = options;
    cert = await x509.X509CertificateGenerator.create({
      ...common,
      subject: options.subject,
      issuer: issuer.cert.subjectName,
      publicKey: keys.publicKey,
      signingKey: issuer.signingKey.key,
      signingAlgorithm: issuer.signingKey.algorithm,
      extensions: [...extensions, await authorityKeyId(issuer.cert)],
    });
  }
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyPem(keys.privateKey) };
}
