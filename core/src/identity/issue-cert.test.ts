import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createCaCertificate, issueLeafCertificate, loadIssuer } from './issue-cert.ts';
import { generateP256KeyPair } from './signing-key.ts';
import { x509 } from './x509.ts';

const HOUR_MS = 3_600_000;

test('root → intermediate → leaf verifies, with AKI = issuer SKI and issuer name = issuer subject bytes', async () => {
  const now = Date.now();
  const root = await createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: ['Root'] }],
    notBefore: new Date(now),
    notAfter: new Date(now + 10 * HOUR_MS),
  });
  const rootIssuer = await loadIssuer(root.certPem, root.keyPem);
  const inter = await createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: ['Intermediate'] }],
    notBefore: new Date(now),
    notAfter: new Date(now + 5 * HOUR_MS),
    issuer: rootIssuer,
  });
  const issuer = await loadIssuer(inter.certPem, inter.keyPem);
  const keys = await generateP256KeyPair();
  const leafPem = await issueLeafCertificate({
    publicKey: keys.publicKey,
    sans: [{ type: 'url', value: 'spiffe://td/ns/a/sa/b' }],
    notBefore: new Date(now),
    notAfter: new Date(now + HOUR_MS),
    issuer,
  });

  const [r, i, l] = [root.certPem, inter.certPem, leafPem].map((p) => new X509Certificate(p)) as [
    X509Certificate,
    X509Certificate,
    X509Certificate,
  ];
  assert.equal(r.ca, true);
  assert.equal(i.ca, true);
  assert.equal(l.ca, false);
  assert.ok(r.verify(r.publicKey), 'root is self-signed');
  assert.ok(i.checkIssued(r) && i.verify(r.publicKey));
  assert.ok(l.checkIssued(i) && l.verify(i.publicKey));

  const leaf = new x509.X509Certificate(leafPem);
  const interParsed = new x509.X509Certificate(inter.certPem);
  assert.deepEqual(Buffer.from(leaf.issuerName.toArrayBuffer()), Buffer.from(interParsed.subjectName.toArrayBuffer()));
  assert.equal(
    leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    interParsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.equal(leaf.subject, '');
  assert.equal(leaf.getExtension(x509.SubjectAlternativeNameExtension)?.critical, true);
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  assert.deepEqual(
    [...(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  );
  assert.equal(leaf.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  const rootKu = new x509.X509Certificate(root.certPem).getExtension(x509.KeyUsagesExtension);
  assert.ok(((rootKu?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign) !== 0);
});

test('serials are random and positive', async () => {
  const now = Date.now();
  const root = await createCaCertificate({ subject: [{ CN: ['Root'] }], notBefore: new Date(now), notAfter: new Date(now + HOUR_MS) });
  const issuer = await loadIssuer(root.certPem, root.keyPem);
  const keys = await generateP256KeyPair();
  const serials = new Set<string>();
  for (let n = 0; n < 20; n++) {
    const pem = await issueLeafCertificate({
      publicKey: keys.publicKey,
      sans: [{ type: 'url', value: 'spiffe://td/ns/a/sa/b' }],
      notBefore: new Date(now),
      notAfter: new Date(now + HOUR_MS),
      issuer,
    });
    const serial = new X509Certificate(pem).serialNumber;
    assert.equal(serial.length, 32);
    assert.ok(Number.parseInt(serial.slice(0, 2), 16) < 0x80);
    serials.add(serial);
  }
  assert.equal(serials.size, 20);
});
