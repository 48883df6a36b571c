import { createCaCertificate, generateP256KeyPair, issueLeafCertificate, loadIssuer, privateKeyPem } from '@ambit/core/identity';
import type { CaMaterial } from '../src/ca/root-store.ts';

// Test-only: Istio plug-in CA material ("cacerts") made with the project's own CA code, never checked-in PEMs.

const HOUR_MS = 3_600_000;

export interface PluggedFixture {
  readonly material: CaMaterial;
  readonly rootPem: string;
  readonly intermediatePem: string;
}

/** A root and an intermediate it signed, laid out as Istio's tools do (cert-chain.pem = intermediate + root). */
export async function pluggedCa(options: { intermediateValidityMs?: number } = {}): Promise<PluggedFixture> {
  const now = Date.now();
  const root = await createCaCertificate({
    subject: [{ O: ['example.org'] }, { CN: ['Example Root CA'] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + 1000 * HOUR_MS),
  });
  const inter = await createCaCertificate({
    subject: [{ O: ['example.org'] }, { CN: ['Example Mesh Intermediate'] }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + (options.intermediateValidityMs ?? 500 * HOUR_MS)),
    issuer: await loadIssuer(root.certPem, root.keyPem),
  });
  return {
    material: { certPem: inter.certPem, keyPem: inter.keyPem, chainPem: inter.certPem + root.certPem, rootPem: root.certPem },
    rootPem: root.certPem,
    intermediatePem: inter.certPem,
  };
}

/** A certificate + key signed by `issuer` that is not a CA (an end-entity posing as an intermediate). */
export async function notACa(issuer: { certPem: string; keyPem: string }): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateP256KeyPair();
  const now = Date.now();
  const certPem = await issueLeafCertificate({
    publicKey: keys.publicKey,
    sans: [{ type: 'dns', value: 'not-a-ca.example' }],
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + HOUR_MS),
    issuer: await loadIssuer(issuer.certPem, issuer.keyPem),
  });
  return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
}
