import { generateP256KeyPair, subtle, x509, type CryptoKeyPair } from '@ambit/core/identity';

// Test-only: CSRs that a well-behaved client never sends, to exercise csr-policy.ts. Built with the same library as
// real CSRs so only the property under test differs.

export interface OddCsr {
  readonly key?: 'p256' | 'p384' | 'rsa2048';
  /** Subject DN, e.g. `CN=foo`; default empty. */
  readonly subject?: string;
  /** SAN entries, in one extension; default none. */
  readonly sans?: ReadonlyArray<{ readonly type: 'url' | 'dns' | 'ip'; readonly value: string }>;
  /** Repeat the SAN extension this many times; default 1 (when `sans` is given). */
  readonly sanExtensions?: number;
}

let rsaKeys: Promise<CryptoKeyPair> | undefined;

async function keysFor(kind: OddCsr['key']): Promise<{ keys: CryptoKeyPair; algorithm: { name: string; hash: string } }> {
  switch (kind) {
    case 'p384':
      return {
        keys: await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']),
        algorithm: { name: 'ECDSA', hash: 'SHA-384' },
      };
    case 'rsa2048':
      // RSA-2048 generation takes ~100 ms; one key serves every test.
      rsaKeys ??= subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      );
      return { keys: await rsaKeys, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
    default:
      return { keys: await generateP256KeyPair(), algorithm: { name: 'ECDSA', hash: 'SHA-256' } };
  }
}

export async function oddCsr(spec: OddCsr): Promise<string> {
  const { keys, algorithm } = await keysFor(spec.key);
  const extensions: x509.Extension[] = [];
  if (spec.sans !== undefined) {
    for (let i = 0; i < (spec.sanExtensions ?? 1); i++) {
      extensions.push(
        new x509.SubjectAlternativeNameExtension(
          spec.sans.map((s) => ({ type: s.type, value: s.value })),
          spec.subject === undefined,
        ),
      );
    }
  }
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: algorithm,
    ...(spec.subject === undefined ? {} : { name: spec.subject }),
    extensions,
  });
  return `${csr.toString('pem')}\n`;
}

/** A valid CSR whose signature no longer matches: one byte of the signature flipped. */
export async function tamperedCsr(identity: string): Promise<string> {
  const pem = await oddCsr({ sans: [{ type: 'url', value: identity }] });
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
