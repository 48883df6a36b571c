import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { asRecord } from '@ambit/core';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { ambitctl, downAndCheckClean, fixtureCopy, REPO, run } from './helpers/ambitctl.ts';

// Issue 13 §1 on a local cluster: a Gateway of class istio-waypoint applied with kubectl → the controller deploys its
// waypoint (ServiceAccount, Deployment, Service owned by the Gateway, with its infrastructure metadata), reports
// Programmed=True with addresses within 10 s of the pod starting, and deleting the Gateway removes all of it.
// The pods run a stand-in (AMBIT_WAYPOINT_COMMAND) that takes the flags and environment a waypoint gets and fetches its
// own certificate with the credential it was given (a projected token), and sees another identity refused.

const CLUSTER = 'it-wpdep';
const paths = clusterPaths(CLUSTER);
const STAND_IN = [process.execPath, '--import', 'tsx', join(REPO, 'test', 'integration', 'helpers', 'waypoint-stand-in.ts')];

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: mesh
  labels: { istio.io/waypoint-for: service }
spec:
  gatewayClassName: istio-waypoint
  infrastructure:
    labels: { team: payments }
    annotations: { example.com/owner: payments-oncall }
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
`;

async function kubectl(...args: string[]): Promise<string> {
  const r = await run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args]);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function getJson(...args: string[]): Promise<Record<string, unknown> | undefined> {
  const r = await run(['kubectl', '--kubeconfig', paths.kubeconfig, 'get', '-o', 'json', ...args]);
  if (r.code !== 0 && /NotFound|not found/.test(r.stderr)) return undefined;
  assert.equal(r.code, 0, r.stderr);
  return asRecord(JSON.parse(r.stdout));
}

const condition = (obj: Record<string, unknown> | undefined, type: string): Record<string, unknown> | undefined =>
  (asRecord(obj?.['status'])['conditions'] as unknown[] | undefined)?.map(asRecord).find((c) => c['type'] === type);

describe('waypoint deployment on a local cluster', { concurrency: false }, () => {
  let dir = '';
  let up = false;

  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('waypoint-deploy');
    const r = await run([process.execPath, join(REPO, 'cli', 'bin', 'ambitctl.js'), 'local', 'up', '-f', dir, '--nodes', '2'], {
      env: { AMBIT_CLUSTER: CLUSTER, AMBIT_WAYPOINT_COMMAND: JSON.stringify(STAND_IN) },
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stderr);
    up = true;
  });

  after(async () => {
    if (up) await downAndCheckClean(CLUSTER, dir);
    else if (dir !== '') await ambitctl(CLUSTER, ['local', 'down']);
  });

  test('the controller keeps GatewayClass istio-waypoint, Accepted', async (t) => {
    if (!requirePrivileges(t, { root: true }) || !up) return;
    await eventually(async () => {
      const gc = await getJson('gatewayclass', 'istio-waypoint');
      assert.equal(asRecord(gc?.['spec'])['controllerName'], 'istio.io/mesh-controller');
      assert.equal(condition(gc, 'Accepted')?.['status'], 'True');
    }, 10_000);
  });

  test('Gateway applied → owned ServiceAccount, Deployment, Service → Programmed=True with addresses → deleted → all gone', async (t) => {
    if (!requirePrivileges(t, { root: true }) || !up) return;
    const manifest = join(dir, '..', `${CLUSTER}-gateway.yaml`);
    writeFileSync(manifest, GATEWAY);
    await kubectl('apply', '-f', manifest);
    const applied = Date.now();

    const gw = await eventually(async () => {
      const g = await getJson('gateway', '-n', 'mesh', 'waypoint');
      assert.equal(condition(g, 'Accepted')?.['status'], 'True', 'Accepted');
      assert.equal(condition(g, 'Programmed')?.['status'], 'True', `Programmed: ${JSON.stringify(condition(g, 'Programmed'))}`);
      return g;
    }, 15_000);
    const ms = Date.now() - applied;
    t.diagnostic(`Programmed=True ${ms} ms after kubectl apply`);
    assert.ok(ms < 10_000, `Programmed within 10 s (${ms} ms)`);

    const uid = asRecord(gw?.['metadata'])['uid'];
    const svc = await getJson('service', '-n', 'mesh', 'waypoint');
    const clusterIp = asRecord(svc?.['spec'])['clusterIP'];
    assert.deepEqual(asRecord(gw?.['status'])['addresses'], [
      { type: 'IPAddress', value: clusterIp },
      { type: 'Hostname', value: 'waypoint.mesh.svc.cluster.local' },
    ]);
    assert.deepEqual(
      (asRecord(svc?.['spec'])['ports'] as unknown[]).map((p) => [asRecord(p)['name'], asRecord(p)['port']]),
      [
        ['mesh', 15008],
        ['status-port', 15021],
        ['metrics', 15020],
      ],
    );
    for (const kind of ['serviceaccount', 'deployment', 'service']) {
      const o = await getJson(kind, '-n', 'mesh', 'waypoint');
      const meta = asRecord(o?.['metadata']);
      assert.deepEqual(
        meta['ownerReferences'],
        [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid, controller: true }],
        `${kind} owned by the Gateway`,
      );
      assert.equal(asRecord(meta['labels'])['team'], 'payments', `${kind} has the infrastructure labels`);
      assert.equal(asRecord(meta['annotations'])['example.com/owner'], 'payments-oncall', `${kind} has the infrastructure annotations`);
    }
    const pods = asRecord(await getJson('pods', '-n', 'mesh', '-l', 'gateway.networking.k8s.io/gateway-name=waypoint'));
    const pod = asRecord((pods['items'] as unknown[])[0]);
    const podLabels = asRecord(asRecord(pod['metadata'])['labels']);
    assert.equal(podLabels['istio.io/dataplane-mode'], 'none');
    assert.equal(podLabels['team'], 'payments');
    assert.equal(asRecord(pod['spec'])['serviceAccountName'], 'waypoint');

    // The pod got the flags and credential of a waypoint: its own certificate, and nothing else.
    const podName = String(asRecord(pod['metadata'])['name']);
    // Read from the kubelet's log file: the local API serves no pods/log.
    const logFile = join(paths.logDir, 'mesh', podName, 'waypoint.log');
    const logs = await eventually(() => {
      const l = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      assert.match(l, /stand-in: other identity refused/);
      return l;
    }, 10_000);
    t.diagnostic(logs.trim());
    assert.match(logs, /stand-in: certificate for spiffe:\/\/cluster\.local\/ns\/mesh\/sa\/waypoint\n/);
    assert.match(logs, /other identity refused: .*may only request its own identity/);
    assert.match(logs, /stand-in: gateway waypoint pod waypoint-\S+ ip 10\.244\./);

    await kubectl('delete', '-f', manifest);
    await eventually(async () => {
      for (const kind of ['serviceaccount', 'deployment', 'service']) {
        assert.equal(await getJson(kind, '-n', 'mesh', 'waypoint'), undefined, `${kind} removed with the Gateway`);
      }
      const left = asRecord(await getJson('pods', '-n', 'mesh', '-l', 'gateway.networking.k8s.io/gateway-name=waypoint'));
      assert.deepEqual(left['items'], [], 'its pods are gone');
    }, 30_000);
  });
});
