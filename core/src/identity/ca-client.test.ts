import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createCaClient } from './ca-client.ts';
import { startFakeCa } from '../../testing/fake-ca.ts';
import { IdentityError } from './identity-error.ts';

// The client against a fake CA (a real gRPC server): what it sends, and what it refuses to accept. The real CA's
// checks are tested in controller/src/ca with this same client.

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ca-client-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function failsWith(code: string, grpcCode?: number): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof IdentityError, `want IdentityError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (grpcCode !== undefined) assert.equal(err.grpcCode, grpcCode, err.message);
    return true;
  };
}

test('fetches a leaf for the identity over a unix socket, with the key it generated and the root last', async () => {
  const ca = await startFakeCa({ listen: { path: join(dir, 'ca.sock') }, tokens: ['t1'] });
  const client = createCaClient({ target: ca.target, token: () => 't1' });
  try {
    const started = Date.now();
    const got = await client.fetchCertificate(ID, 3600);
    assert.deepEqual(ca.requested, [ID]);
    assert.equal(got.rootPem, ca.rootPem);
    assert.deepEqual(got.chainPems, []);
    const leaf = new X509Certificate(got.certPem);
    assert.ok(leaf.verify(new X509Certificate(got.rootPem).publicKey));
    assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(got.keyPem)));
    assert.ok(Math.abs(got.notAfter.getTime() - (started + 3_600_000)) < 5_000);
    assert.ok(got.notBefore.getTime() <= started);
  } finally {
    client.close();
    await ca.close();
  }
});

test('reads the token for every request, so a rotated token is used', async () => {
  const ca = await startFakeCa({ listen: { path: join(dir, 'rotate.sock') }, tokens: ['old', 'new'] });
  const tokens = ['old', 'new', 'revoked'];
  const client = createCaClient({ target: ca.target, token: async () => tokens.shift() ?? '' });
  try {
    await client.fetchCertificate(ID);
    await client.fetchCertificate(ID);
    await assert.rejects(client.fetchCertificate(ID), failsWith('CA_REQUEST_FAILED', status.UNAUTHENTICATED));
  } finally {
    client.close();
    await ca.close();
  }
});

test('refuses a leaf whose URI SAN is not the identity asked for', async () => {
  const ca = await startFakeCa({
    listen: { path: join(dir, 'liar.sock') },
    sanFor: () => 'spiffe://cluster.local/ns/kube-system/sa/admin',
  });
  const client = createCaClient({ target: ca.target, token: () => '' });
  try {
    await assert.rejects(client.fetchCertificate(ID), failsWith('CA_IDENTITY_MISMATCH'));
  } finally {
    client.close();
    await ca.close();
  }
});

test('speaks TLS to a CA on 127.0.0.1, verifying its serving certificate', async () => {
  const ca = await startFakeCa({ listen: { port: 0 }, tls: true });
  const good = createCaClient({ target: ca.target, tls: { ca: ca.rootPem }, token: () => 'x' });
  const otherCa = await startFakeCa({ listen: { path: join(dir, 'other.sock') } });
  const untrusting = createCaClient({ target: ca.target, tls: { ca: otherCa.rootPem }, token: () => 'x', timeoutMs: 2000 });
  try {
    const got = await good.fetchCertificate(ID);
    assert.equal(got.rootPem, ca.rootPem);
    await assert.rejects(untrusting.fetchCertificate(ID), failsWith('CA_REQUEST_FAILED', status.UNAVAILABLE));
  } finally {
    good.close();
    untrusting.close();
    await ca.close();
    await otherCa.close();
  }
});

test('an unreachable CA is CA_REQUEST_FAILED with UNAVAILABLE', async () => {
  const client = createCaClient({ target: `unix:${join(dir, 'nobody.sock')}`, token: () => 'x', timeoutMs: 1000 });
  try {
    await assert.rejects(client.fetchCertificate(ID), failsWith('CA_REQUEST_FAILED'));
  } finally {
    client.close();
  }
});
