import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../errors.ts';
import { parseCertInfo } from './cert-info.ts';
import { createCaCertificate, issueLeafCertificate, loadIssuer } from './issue-cert.ts';
import { generateP256KeyPair } from './signing-key.ts';

test('reads URI SANs, validity, CA flag and key algorithm', async () => {
  const notBefore = new Date('2030-01-01T00:00:00Z');
  const notAfter = new Date('2030-01-02T00:00:00Z');
  const root = await createCaCertificate({ subject: [{ CN: ['Root'] }], notBefore, notAfter });
  const keys = await generateP256KeyPair();
  const leaf = await issueLeafCertificate({
    publicKey: keys.publicKey,
    // A comma inside a URI is why SANs are read from ASN.1 rather than Node's joined text.
    sans: [
      { type: 'dns', value: 'x.example' },
      { type: 'url', value: 'spiffe://td/ns/a/sa/b' },
      { type: 'url', value: 'spiffe://td/ns/a,b/sa/c' },
    ],
    notBefore,
    notAfter,
    issuer: await loadIssuer(root.certPem, root.keyPem),
  });
  assert.deepEqual(parseCertInfo(leaf), {
    uriSans: ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a,b/sa/c'],
    notBefore,
    notAfter,
    isCa: false,
    publicKeyAlgorithm: 'ECDSA P-256',
  });
  const rootInfo = parseCertInfo(root.certPem);
  assert.equal(rootInfo.isCa, true);
  assert.deepEqual(rootInfo.uriSans, []);
});

test('garbage is INVALID_CERTIFICATE', () => {
  for (const pem of ['', 'hello', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']) {
    assert.throws(
      () => parseCertInfo(pem),
      (err: unknown) => hasCode(err, 'INVALID_CERTIFICATE'),
    );
  }
});
