import { createPrivateKey, type KeyObject, type webcrypto } from 'node:crypto';
import { IdentityError } from './identity-error.ts';
import { subtle, type CryptoKey, type CryptoKeyPair, type SignatureAlgorithm } from './x509.ts';

/** A private key ready to sign X.509 objects, with the signature algorithm that goes with it. */
export interface SigningKey {
  readonly key: CryptoKey;
  readonly algorithm: SignatureAlgorithm;
  /** `ECDSA P-256`, `RSA 4096`, …, for error messages and logs. */
  readonly description: string;
}

const P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** A fresh, extractable ECDSA P-256 key pair (the only workload key type; reference istio-ambient.md §5). */
export async function generateP256KeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(P256, true, ['sign', 'verify']);
}

/** PKCS#8 PEM of an extractable private key (what rustls, Go and Node all load). */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function algorithmOf(ko: KeyObject): {
  importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  sign: SignatureAlgorithm;
  description: string;
} {
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { importAlg: P256, sign: { name: 'ECDSA', hash: 'SHA-256' }, description: 'ECDSA P-256' };
    if (curve === 'secp384r1') {
      return { importAlg: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' }, description: 'ECDSA P-384' };
    }
    throw new IdentityError('INVALID_CERTIFICATE', `unsupported EC curve ${curve ?? 'unknown'} (P-256 or P-384 only)`);
  }
  if (ko.asymmetricKeyType === 'rsa') {
    // Istio's plug-in CA tooling makes RSA roots and intermediates, so RSA issuers must sign (workload keys never are).
    const bits = ko.asymmetricKeyDetails?.modulusLength ?? 0;
    const alg: webcrypto.RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { importAlg: alg, sign: alg, description: `RSA ${bits}` };
  }
  throw new IdentityError('INVALID_CERTIFICATE', `unsupported key type ${ko.asymmetricKeyType ?? 'unknown'} (ECDSA or RSA only)`);
}

/** Loads a PEM private key (PKCS#8, SEC1 or PKCS#1) as a non-extractable signing key. */
export async function importSigningKey(keyPem: string): Promise<SigningKey> {
  let ko: KeyObject;
  try {
    ko = createPrivateKey(keyPem);
  } catch (err) {
    throw new IdentityError('INVALID_CERTIFICATE', 'private key is not a PEM key Node can load', { cause: err });
  }
  const { importAlg, sign, description } = algorithmOf(ko);
  const der = ko.export({ type: 'pkcs8', format: 'der' });
  const key = await subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  return { key, algorithm: sign, description };
}
