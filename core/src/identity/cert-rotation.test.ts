import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../log.ts';
import { spiffeId } from '../model/spiffe.ts';
import { createCaClient } from './ca-client.ts';
import { parseCertInfo } from './cert-info.ts';
import { eventually } from '../../testing/eventually.ts';
import { startFakeCa } from '../../testing/fake-ca.ts';
import { createCertManager } from './cert-manager.ts';

// Real time, a real gRPC CA on a unix socket, the real CA client: a 20 s certificate must be rotated on its own,
// and nobody asking for it in the meantime may ever get one that is not valid at that moment.

const ID = spiffeId('cluster.local', 'default', 'rotating');

test('a 20 s certificate is rotated at least twice in 25 s and every certFor returns a valid one', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-cert-rotation-'));
  const ca = await startFakeCa({ listen: { path: join(dir, 'ca.sock') }, tokens: ['node-1'] });
  const client = createCaClient({ target: ca.target, token: () => 'node-1' });
  const manager = createCertManager({ fetch: (id, ttl) => client.fetchCertificate(id, ttl), ttlSeconds: 20, log: silentLogger() });
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  try {
    manager.track(ID);
    const leaves = new Set<string>();
    const invalid: string[] = [];
    let calls = 0;
    await eventually(
      async () => {
        const cert = await manager.certFor(ID);
        calls += 1;
        const now = Date.now();
        const [leaf] = cert.certChain;
        assert.ok(leaf !== undefined);
        const info = parseCertInfo(leaf);
        if (!(info.notBefore.getTime() <= now && now < info.notAfter.getTime()))
          invalid.push(`${info.notBefore.toISOString()}..${info.notAfter.toISOString()} at ${new Date(now).toISOString()}`);
        if (info.uriSans.join() !== ID) invalid.push(`SANs ${info.uriSans.join()}`);
        leaves.add(leaf);
        assert.ok(leaves.size >= 3, `${leaves.size} certificate(s) so far`);
      },
      25_000,
      100,
    );
    assert.deepEqual(invalid, [], 'every certFor returned a currently-valid certificate for the identity');
    assert.ok(calls > 100, `certFor was exercised throughout (${calls} calls)`);
    assert.ok(
      ca.requested.length >= 3 && ca.requested.length <= 4,
      `rotation happened at half-life, not in a loop (${ca.requested.length} requests)`,
    );
    const [status] = manager.state();
    assert.equal(status?.state, 'Available');
  } finally {
    manager.close();
    client.close();
    await ca.close();
    await rm(dir, { recursive: true, force: true });
  }
  const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.ok(timersAfter <= timersBefore, `no timer left behind (${timersBefore} before, ${timersAfter} after)`);
});
