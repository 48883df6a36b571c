import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { test } from 'node:test';
import { createServingCert } from './self-signed-cert.ts';

test('every serving certificate parses, whatever its random serial (one in 256 used to fail as "illegal padding")', async () => {
  // The DER is @peculiar/x509's now and core's serials start with a byte in 0x01..0x7f, so the old failure cannot
  // come back through this file; the draws guard that pair. 500 of them catch a one-in-256 defect with probability
  // 86 % (1500 took ~4 s: each certificate costs ~2.5 ms in the library). In batches: key generation and signing run
  // on libuv's thread pool.
  const DRAWS = 500;
  const BATCH = 10;
  for (let i = 0; i < DRAWS; i += BATCH) {
    const certs = await Promise.all(Array.from({ length: BATCH }, () => createServingCert()));
    certs.forEach(({ certPem, keyPem }, j) => {
      const cert = new X509Certificate(certPem);
      assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/, 'positive, 16 bytes, minimal DER');
      assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
      if ((i + j) % 100 === 0) createSecureContext({ cert: certPem, key: keyPem });
    });
  }
});

test('the serving certificate is its own CA, for 127.0.0.1 and the kubernetes Service, valid from an hour ago', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const { certPem } = await createServingCert('test-api', now, 10, ['172.28.0.11']);
  const cert = new X509Certificate(certPem);
  assert.ok(cert.ca);
  assert.ok(cert.verify(cert.publicKey), 'self-signed');
  assert.equal(cert.subject, 'CN=test-api');
  // What kube-apiserver's certificate names, so in-cluster clients (KUBERNETES_SERVICE_HOST) verify it.
  assert.equal(
    cert.subjectAltName,
    'IP Address:127.0.0.1, IP Address:10.96.0.1, IP Address:172.28.0.11, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, ' +
      'DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local',
  );
  assert.equal(cert.checkIP('10.96.0.1'), '10.96.0.1');
  assert.equal(cert.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
  assert.equal(cert.checkHost('example.com'), undefined);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(new Date(cert.validFrom).toISOString(), '2029-12-31T23:00:00.000Z');
  assert.equal(new Date(cert.validTo).toISOString(), '2030-01-11T00:00:00.000Z');
  assert.ok(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'extendedKeyUsage serverAuth');
});
