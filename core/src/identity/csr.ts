import { generateP256KeyPair, privateKeyPem } from './signing-key.ts';
import { x509 } from './x509.ts';

/**
 * A fresh ECDSA P-256 key and a PKCS#10 request for `identity`, shaped as ztunnel's (src/tls/csr.rs): empty subject,
 * one URI SAN marked critical (RFC 5280 §4.2.1.6, empty subject), SHA-256 signature. A new key per fetch means a
 * leaked key dies with its certificate.
 */
export async function createCsr(identity: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateP256KeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], true)],
  });
  return { csrPem: `${csr.toString('pem')}\n`, keyPem: await privateKeyPem(keys.privateKey) };
}
