import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { test } from 'node:test';
import { createServingCert } from './self-signed-cert.ts';

test('every serving certificate parses, whatever its random serial (one in 256 used to fail as "illegal padding")', () => {
  // 1500 draws: the old encoding would have failed here with probability > 99.7 %.
  for (let i = 0; i < 1500; i++) {
    const { certPem, keyPem } = createServingCert();
    const cert = new X509Certificate(certPem);
    assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/, 'positive, 16 bytes, minimal DER');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    if (i % 100 === 0) createSecureContext({ cert: certPem, key: keyPem });
  }
});
