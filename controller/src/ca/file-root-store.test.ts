import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hasCode } from '@ambit/core';
import { FileRootStore } from './file-root-store.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-root-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('round-trips material in Istio file names, every file 0600 in a 0700 directory, no temp files left', async () => {
  const storeDir = join(dir, 'a');
  const store = new FileRootStore(storeDir);
  assert.equal(await store.load(), undefined);
  const material = { certPem: 'CERT\n', keyPem: 'KEY\n', chainPem: 'CHAIN\n', rootPem: 'ROOT\n' };
  await store.save(material);
  assert.deepEqual(await store.load(), material);
  assert.deepEqual((await readdir(storeDir)).sort(), ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
  for (const f of await readdir(storeDir)) assert.equal((await stat(join(storeDir, f))).mode & 0o777, 0o600, f);
  assert.equal((await stat(storeDir)).mode & 0o777, 0o700);
});

test('a key without a certificate (crash before the commit rename) reads as nothing stored', async () => {
  const storeDir = join(dir, 'b');
  await new FileRootStore(storeDir).save({ certPem: 'C', keyPem: 'K' });
  await rm(join(storeDir, 'ca-cert.pem'));
  assert.equal(await new FileRootStore(storeDir).load(), undefined);
});

test('a certificate without its key is an error, not "nothing stored"', async () => {
  const storeDir = join(dir, 'c');
  await new FileRootStore(storeDir).save({ certPem: 'C', keyPem: 'K' });
  await rm(join(storeDir, 'ca-key.pem'));
  await assert.rejects(new FileRootStore(storeDir).load(), (err: unknown) => hasCode(err, 'CA_MATERIAL_INVALID'));
});

test('a store that cannot be written fails with CA_STORE_FAILED naming the directory', async () => {
  const blocker = join(dir, 'not-a-dir');
  await writeFile(blocker, 'x');
  await assert.rejects(new FileRootStore(join(blocker, 'sub')).save({ certPem: 'C', keyPem: 'K' }), (err: unknown) => {
    assert.ok(hasCode(err, 'CA_STORE_FAILED'));
    assert.match(String(err), /not-a-dir\/sub/);
    return true;
  });
});
