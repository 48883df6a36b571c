import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { eventually } from '@ambit/core/testing';
import { ADDRESS_TYPE_URL, harness, workload, workloadResource, type Harness } from '../../testing/xds-harness.ts';

const SERVER_NAME = 'xds.ambit-system.svc';

/** A throwaway self-signed P-256 certificate for the server, made for this test run (never checked in). */
function selfSigned(h: Harness, name: string): { key: Buffer; cert: Buffer } {
  const key = h.dir.path(`${name}.key`);
  const cert = h.dir.path(`${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=${SERVER_NAME}`,
      '-addext',
      `subjectAltName=DNS:${SERVER_NAME},IP:127.0.0.1`,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

test('TLS on 127.0.0.1:0: a proxy trusting the CA receives pushes; one trusting another CA never connects', async (t) => {
  const h = harness(t);
  const { key, cert } = selfSigned(h, 'server');
  const other = selfSigned(h, 'other');
  const server = await h.server({ listen: { host: '127.0.0.1', port: 0 }, tls: { key, cert, ca: cert }, debounceMs: 0 });
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
  assert.doesNotMatch(server.address, /:0$/);

  const trusting = h.client(server.address, { tls: { ca: cert, servername: SERVER_NAME } });
  const wrongCa = h.client(server.address, { tls: { ca: other.cert, servername: SERVER_NAME } });
  const w = workload(7);
  server.publish(ADDRESS_TYPE_URL, { upserted: [workloadResource(w)], removed: [] });
  await eventually(() => assert.deepEqual(trusting.workloads().get(w.uid), w), 2000);
  assert.ok(trusting.client.connected());

  await eventually(() => assert.ok(wrongCa.client.stats().streams >= 2, 'retried'), 2000);
  assert.equal(wrongCa.client.connected(), false);
  assert.equal(wrongCa.workloads().size, 0);
  assert.equal(server.connections().length, 1, 'only the trusting proxy got a stream');
});
