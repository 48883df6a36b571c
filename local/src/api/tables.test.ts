import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/types.ts';
import { ResourceTypeRegistry } from '../store/resource-types.ts';
import { createServingCert } from './self-signed-cert.ts';
import { humanDuration, toTable } from './tables.ts';

void describe('tables', () => {
  const durations: Array<[number, string]> = [
    [-5000, '<invalid>'],
    [0, '0s'],
    [119_000, '119s'],
    [125_000, '2m5s'],
    [600_000, '10m'],
    [3 * 3600_000 + 5 * 60_000, '3h5m'],
    [30 * 3600_000, '30h'],
    [3 * 86_400_000 + 2 * 3600_000, '3d2h'],
    [400 * 86_400_000, '400d'],
    [3 * 365 * 86_400_000 + 10 * 86_400_000, '3y10d'],
  ];
  for (const [ms, text] of durations) void it(`AGE of ${ms} ms is ${text}`, () => assert.equal(humanDuration(ms), text));

  const types = new ResourceTypeRegistry();
  const now = new Date('2025-01-01T01:00:00Z');
  const opts = { apiVersion: 'meta.k8s.io/v1', includeObject: 'None' as const, resourceVersion: '1', now };
  const cells = (apiVersion: string, kind: string, o: KubeObject): unknown[] => {
    const t = types.byKind(apiVersion, kind);
    assert.ok(t);
    return (toTable(t, [o], opts)['rows'] as Array<{ cells: unknown[] }>)[0]?.cells ?? [];
  };
  const meta = { name: 'x', creationTimestamp: '2025-01-01T00:00:00Z' };

  void it('prints services like kubectl', () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.0.5',
        ports: [
          { port: 80, nodePort: 30080 },
          { port: 53, protocol: 'UDP' },
        ],
        selector: { app: 'web' },
      },
    };
    assert.deepEqual(cells('v1', 'Service', svc), ['x', 'NodePort', '10.96.0.5', '<none>', '80:30080/TCP,53/UDP', '60m', 'app=web']);
  });

  void it('prints nodes, deployments and other kinds', () => {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { ...meta, labels: { 'node-role.kubernetes.io/control-plane': '' } },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-ambit' },
        addresses: [{ type: 'InternalIP', address: '10.0.0.2' }],
      },
    };
    assert.deepEqual(cells('v1', 'Node', node), ['x', 'Ready', 'control-plane', '60m', 'v1.32.0-ambit', '10.0.0.2']);
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: { replicas: 3 },
      status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
    };
    assert.deepEqual(cells('apps/v1', 'Deployment', deploy), ['x', '2/3', 3, 2, '60m']);
    assert.deepEqual(cells('v1', 'ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta }), ['x', '60m']);
    const terminating = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...meta, deletionTimestamp: '2025-01-01T01:00:30Z' },
      spec: { containers: [{}] },
      status: { phase: 'Running' },
    };
    assert.equal(cells('v1', 'Pod', terminating)[2], 'Terminating');
  });

  void it('serves with a valid self-signed certificate for 127.0.0.1', async () => {
    const cert = new X509Certificate((await createServingCert()).certPem);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(cert.ca);
  });
});
