import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ADDRESS_TYPE_URL, silentLogger } from '@ambit/core';
import { decodeAddress } from '@ambit/core/codec';
import { eventually } from '@ambit/core/testing';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { startController, type RunningController } from '../../controller/src/index.ts';
import { LocalApi } from './helpers/local-api.ts';

// Two controller replicas against one API, gRPC over TCP: both serve xDS over TLS with a certificate from the mesh CA
// (the one root they share through the ambit-ca Secret), and exactly one holds the Lease and writes.

const dir = mkdtempSync(join(tmpdir(), 'ambit-replicas-'));
const api = new LocalApi();
const replicas: RunningController[] = [];
const clients: XdsClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(replicas.map((r) => r.stop()));
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('two replicas serve the same model over TLS; one leads', async () => {
  await api.start();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [
        { name: 'l', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.cert.certPem).toString('base64') } },
      ],
      users: [{ name: 'u', user: { token: api.token } }],
      contexts: [{ name: 'c', context: { cluster: 'l', user: 'u' } }],
    }),
  );
  api.store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mesh', labels: { 'istio.io/dataplane-mode': 'ambient' } } });
  const pods = api.store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
  api.store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'mesh' },
    spec: { nodeName: 'node1', containers: [{ name: 'c', command: ['x'] }] },
  });
  api.store.patch(
    pods,
    'mesh',
    'p',
    { status: { phase: 'Running', podIP: '10.244.1.9', conditions: [{ type: 'Ready', status: 'True' }] } },
    { patchType: 'merge', subresource: 'status' },
  );
  for (const id of ['replica-a', 'replica-b']) {
    replicas.push(
      await startController(
        {
          kubeconfig,
          identity: id,
          trustDomain: 'cluster.local',
          clusterId: 'Kubernetes',
          systemNamespace: 'ambit-system',
          grpc: { host: '127.0.0.1', port: 0 },
          debug: { port: 0 },
          caStore: { kind: 'secret' },
          caAuth: { kind: 'node-credentials', file: writeCreds() },
          certTtlSeconds: 86400,
          maxCertTtlSeconds: 86400 * 90,
          logLevel: 'silent',
          waypoint: { image: 'ghcr.io/ambit-dev/ambit:test' },
        },
        silentLogger(),
      ),
    );
  }
  const [a, b] = replicas as [RunningController, RunningController];
  assert.equal(a.rootCertPem, b.rootCertPem, 'both replicas use the one root in Secret ambit-ca');
  for (const r of replicas) {
    const client = createXdsClient({
      target: r.grpcAddress,
      tls: { ca: r.rootCertPem, servername: 'ambit-controller.ambit-system.svc' },
      node: { id: `proxy-of-${r.grpcAddress}` },
      log: silentLogger(),
      types: [xdsType({ typeUrl: ADDRESS_TYPE_URL, decode: (_n, bytes) => decodeAddress(bytes), onChange: () => undefined })],
    });
    clients.push(client);
  }
  await eventually(
    () => clients.forEach((c) => assert.ok(c.state(ADDRESS_TYPE_URL).has('Kubernetes//Pod/mesh/p'), 'workload served over TLS')),
    10_000,
  );
  await eventually(() => assert.equal(replicas.filter((r) => r.isLeader()).length, 1, 'exactly one leader'), 10_000);
});

function writeCreds(): string {
  const file = join(dir, 'creds.json');
  writeFileSync(file, JSON.stringify({ 'node1-token': 'node1' }));
  return file;
}
