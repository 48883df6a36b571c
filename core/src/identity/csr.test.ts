import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { createCsr } from './csr.ts';
import { x509 } from './x509.ts';

test('a CSR has an empty subject, one critical URI SAN, a P-256 key and a SHA-256 signature that verifies', async () => {
  const identity = 'spiffe://cluster.local/ns/default/sa/reviews';
  const { csrPem, keyPem } = await createCsr(identity);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.equal(await csr.verify(), true);
  assert.equal(csr.subject, '');
  assert.deepEqual(csr.publicKey.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
  assert.deepEqual({ ...csr.signatureAlgorithm }, { name: 'ECDSA', hash: { name: 'SHA-256' } });
  assert.equal(csr.extensions.length, 1);
  const [ext] = csr.extensions;
  assert.ok(ext !== undefined);
  const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
  assert.equal(san.critical, true);
  assert.deepEqual(san.names.toJSON(), [{ type: 'url', value: identity }]);

  // The key returned is the one the CSR carries.
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  assert.deepEqual(fromKey, Buffer.from(csr.publicKey.rawData));
});

test('every CSR gets a fresh key', async () => {
  const a = await createCsr('spiffe://td/ns/a/sa/b');
  const b = await createCsr('spiffe://td/ns/a/sa/b');
  assert.notEqual(a.keyPem, b.keyPem);
});
