import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { createCsr } from './core-identity.ts';
import { checkCsr } from './csr-policy.ts';
import { oddCsr, tamperedCsr } from '../../testing/odd-csrs.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

test('accepts what ztunnel sends, and a CSR without any SAN', async () => {
  await checkCsr((await createCsr(ID)).csrPem, ID);
  await checkCsr(await oddCsr({}), ID);
});

const refused: ReadonlyArray<{ name: string; csr: () => Promise<string>; says: RegExp }> = [
  { name: 'an RSA key', csr: () => oddCsr({ key: 'rsa2048', sans: [{ type: 'url', value: ID }] }), says: /RSA 2048; only ECDSA P-256/ },
  { name: 'a P-384 key', csr: () => oddCsr({ key: 'p384', sans: [{ type: 'url', value: ID }] }), says: /EC secp384r1/ },
  {
    name: 'a CN',
    csr: () => oddCsr({ subject: 'CN=reviews', sans: [{ type: 'url', value: ID }] }),
    says: /subject must be empty, got "CN=reviews"/,
  },
  { name: 'an O', csr: () => oddCsr({ subject: 'O=evil' }), says: /subject must be empty/ },
  {
    name: 'an extra URI SAN',
    csr: () =>
      oddCsr({
        sans: [
          { type: 'url', value: ID },
          { type: 'url', value: 'spiffe://cluster.local/ns/kube-system/sa/admin' },
        ],
      }),
    says: /2 SANs/,
  },
  {
    name: 'a DNS SAN',
    csr: () => oddCsr({ sans: [{ type: 'dns', value: 'reviews.default.svc' }] }),
    says: /SAN is DNS reviews\.default\.svc/,
  },
  { name: 'an IP SAN', csr: () => oddCsr({ sans: [{ type: 'ip', value: '10.0.0.1' }] }), says: /SAN is IP 10\.0\.0\.1/ },
  {
    name: 'two SAN extensions',
    csr: () => oddCsr({ sans: [{ type: 'url', value: ID }], sanExtensions: 2 }),
    says: /more than one subjectAltName/,
  },
  {
    name: 'a SAN that is not the identity',
    csr: async () => (await createCsr('spiffe://cluster.local/ns/default/sa/other')).csrPem,
    says: /is not the requested identity/,
  },
  { name: 'a bad signature', csr: () => tamperedCsr(ID), says: /signature does not verify/ },
  { name: 'garbage bytes', csr: async () => '\u0000\u00ff garbage \u0007', says: /not a PEM "CERTIFICATE REQUEST"/ },
  {
    name: 'garbage inside PEM armour',
    csr: async () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n',
    says: /does not parse as PKCS#10/,
  },
  { name: 'an empty CSR', csr: async () => '', says: /not a PEM/ },
  { name: 'a huge CSR', csr: async () => `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(20_000)}`, says: /larger than/ },
];

for (const { name, csr, says } of refused) {
  test(`refuses a CSR with ${name}`, async () => {
    const pem = await csr();
    await assert.rejects(checkCsr(pem, ID), (err: unknown) => {
      assert.ok(hasCode(err, 'CA_INVALID_CSR'), String(err));
      assert.match((err as Error).message, says);
      return true;
    });
  });
}
