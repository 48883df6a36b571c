import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { KubeApiError, KubeClient } from '@ambit/core/kube';
import { REPO, run, type RunResult } from './helpers/ambitctl.ts';
import { LocalApi } from './helpers/local-api.ts';

// `ambitctl waypoint` against the local cluster's Kubernetes-style API (in process, TLS + token on 127.0.0.1): the
// binary as a user runs it, with --kubeconfig, and once the way it reaches a local cluster by default (its runner's
// kubeconfig). No controller runs here: where a verb waits for Programmed, the test writes the Gateway's status as the
// controller would.

const GW = '/apis/gateway.networking.k8s.io/v1';
type Obj = Record<string, unknown> & { metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string } };

describe('ambitctl waypoint (local API server)', { concurrency: false }, () => {
  const api = new LocalApi();
  let dir = '';
  let kubeconfig = '';
  let kube: KubeClient;

  const ctl = (args: string[], env: Record<string, string> = {}): Promise<RunResult> =>
    run(
      [
        process.execPath,
        join(REPO, 'cli', 'bin', 'ambitctl.js'),
        'waypoint',
        ...args,
        ...(env['AMBIT_STATE_ROOT'] ? [] : ['--kubeconfig', kubeconfig]),
      ],
      {
        env,
        timeoutMs: 60_000,
      },
    );
  const gateway = (ns: string, name: string): Promise<Obj> => kube.request<Obj>('GET', `${GW}/namespaces/${ns}/gateways/${name}`);
  const namespace = (ns: string): Promise<Obj> => kube.request<Obj>('GET', `/api/v1/namespaces/${ns}`);
  async function setStatus(ns: string, name: string, conditions: object[]): Promise<void> {
    const gw = await gateway(ns, name);
    await kube.request('PUT', `${GW}/namespaces/${ns}/gateways/${name}/status`, { ...gw, status: { conditions } });
  }
  const cond = (type: string, status: string, reason: string, message = ''): object => ({
    type,
    status,
    reason,
    message,
    lastTransitionTime: new Date().toISOString(),
  });

  before(async () => {
    await api.start();
    dir = mkdtempSync(join(tmpdir(), 'ambit-waypoint-cli-'));
    kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'));
    kube = new KubeClient(api.kubeConfig());
    for (const ns of ['demo', 'other', 'enrol'])
      await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  });

  after(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply creates the waypoint Gateway as istioctl does', async () => {
    const r = await ctl(['apply', '-n', 'demo', '--for', 'service']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '✅ waypoint demo/waypoint applied\n');
    const gw = await gateway('demo', 'waypoint');
    assert.deepEqual(gw['spec'], { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] });
    assert.deepEqual(gw.metadata.labels, { 'istio.io/waypoint-for': 'service' });
  });

  it('apply again updates its own fields and keeps what others set', async () => {
    const gw = await gateway('demo', 'waypoint');
    await kube.request('PUT', `${GW}/namespaces/demo/gateways/waypoint`, {
      ...gw,
      metadata: { ...gw.metadata, labels: { ...gw.metadata.labels, team: 'a' } },
    });
    const r = await ctl(['apply', '-n', 'demo', '--for', 'all']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await gateway('demo', 'waypoint')).metadata.labels, { 'istio.io/waypoint-for': 'all', team: 'a' });
  });

  it('clear errors: a missing namespace, a Gateway that is not a waypoint (left unchanged)', async () => {
    const missing = await ctl(['apply', '-n', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: namespace: nope not found\n');
    await kube.request('POST', `${GW}/namespaces/demo/gateways`, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'ingress', namespace: 'demo' },
      spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    });
    const notWaypoint = await ctl(['apply', '-n', 'demo', '--name', 'ingress']);
    assert.equal(notWaypoint.code, 1);
    assert.match(notWaypoint.stderr, /Gateway demo\/ingress exists with gatewayClassName "istio": it is not a waypoint/);
    assert.equal(((await gateway('demo', 'ingress'))['spec'] as { gatewayClassName: string }).gatewayClassName, 'istio');
  });

  it('apply --wait shows progress and returns once the controller reports Programmed=True', async () => {
    const pending = ctl(['apply', '-n', 'demo', '--name', 'wp2', '--wait']);
    await eventually(() => gateway('demo', 'wp2'), 20_000);
    await setStatus('demo', 'wp2', [
      cond('Accepted', 'True', 'Accepted'),
      cond('Programmed', 'False', 'NoResources', 'no ready waypoint pod'),
    ]);
    await setStatus('demo', 'wp2', [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')]);
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '✅ waypoint demo/wp2 applied\n✅ waypoint demo/wp2 is ready!\n');
    assert.match(r.stderr, /^waiting for waypoint demo\/wp2 \(\d+s\): /m);
  });

  it("apply --wait times out with the Gateway's conditions", async () => {
    await ctl(['apply', '-n', 'demo', '--name', 'stuck']);
    await setStatus('demo', 'stuck', [
      cond('Accepted', 'True', 'Accepted'),
      cond('Programmed', 'False', 'NoResources', 'no ready waypoint pod'),
    ]);
    const r = await ctl(['apply', '-n', 'demo', '--name', 'stuck', '--wait', '--waypoint-timeout', '1s']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error: timed out after 1s while waiting for waypoint demo\/stuck to be Programmed: Accepted=True \(Accepted\); Programmed=False \(NoResources: no ready waypoint pod\)/,
    );
    assert.ok(r.ms < 15_000);
  });

  it('--enroll-namespace labels the namespace, and replaces another waypoint only with --overwrite', async () => {
    const r = await ctl(['apply', '-n', 'enrol', '--enroll-namespace']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Warning: namespace is not enrolled in ambient/);
    assert.match(r.stdout, /✅ namespace enrol labeled with "istio.io\/use-waypoint: waypoint"\n$/);
    assert.equal((await namespace('enrol')).metadata.labels?.['istio.io/use-waypoint'], 'waypoint');
    const ns = await namespace('enrol');
    await kube.request('PUT', '/api/v1/namespaces/enrol', {
      ...ns,
      metadata: { ...ns.metadata, labels: { ...ns.metadata.labels, 'istio.io/dataplane-mode': 'ambient' } },
    });
    // The same waypoint again: not a conflict, no ambient warning any more.
    const again = await ctl(['apply', '-n', 'enrol', '--enroll-namespace']);
    assert.equal(again.stdout, '✅ waypoint enrol/waypoint applied\n✅ namespace enrol labeled with "istio.io/use-waypoint: waypoint"\n');
    const refused = await ctl(['apply', '-n', 'enrol', '--name', 'second', '--enroll-namespace']);
    assert.equal(refused.code, 0);
    assert.match(refused.stdout, /already has an enrolled Waypoint \(waypoint\)\. Consider adding the `--overwrite` flag/);
    await assert.rejects(gateway('enrol', 'second'), (err: unknown) => err instanceof KubeApiError && err.status === 404);
    const overwritten = await ctl(['apply', '-n', 'enrol', '--name', 'second', '--enroll-namespace', '--overwrite']);
    assert.equal(overwritten.code, 0, overwritten.stderr);
    assert.equal((await namespace('enrol')).metadata.labels?.['istio.io/use-waypoint'], 'second');
    assert.equal((await namespace('enrol')).metadata.labels?.['istio.io/dataplane-mode'], 'ambient', 'other labels kept');
  });

  it("list and status: istioctl's columns, waypoints only", async () => {
    const list = await ctl(['list', '-n', 'demo']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      list.stdout.split('\n').map((l) => l.split(/\s{3,}/)),
      [
        ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'],
        ['stuck', 'default', 'none', 'False'],
        ['waypoint', 'default', 'all', 'False'],
        ['wp2', 'default', 'none', 'True'],
        [''],
      ],
    );
    const all = await ctl(['list', '-A']);
    assert.match(all.stdout, /^NAMESPACE\s+NAME\s+REVISION\s+TRAFFIC TYPE\s+PROGRAMMED\n/);
    assert.match(all.stdout, /^enrol\s+second\s+default\s+none\s+False$/m);
    assert.doesNotMatch(all.stdout, /ingress/);
    assert.equal((await ctl(['list', '-n', 'other'])).stdout, 'No waypoints found.\n');
    const status = await ctl(['status', '-n', 'demo', '--name', 'stuck']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      status.stdout.split('\n').map((l) => l.split(/\s{3,}/)),
      [['NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'], ['stuck', 'False', 'Programmed', 'NoResources', 'no ready waypoint pod'], ['']],
    );
    const missing = await ctl(['status', '-n', 'demo', '--name', 'ingress']);
    assert.equal(missing.stderr, 'error: waypoint demo/ingress not found\n');
  });

  it('delete: by name (non-waypoints reported and kept) and --all', async () => {
    const r = await ctl(['delete', 'stuck', 'ingress', 'ghost', '-n', 'demo']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'waypoint demo/ingress not found\nwaypoint demo/ghost not found\nwaypoint demo/stuck deleted\n');
    await assert.rejects(gateway('demo', 'stuck'), (err: unknown) => err instanceof KubeApiError && err.status === 404);
    const all = await ctl(['delete', '--all', '-n', 'demo']);
    assert.equal(all.stdout, 'waypoint demo/waypoint deleted\nwaypoint demo/wp2 deleted\n');
    assert.equal(((await gateway('demo', 'ingress'))['spec'] as { gatewayClassName: string }).gatewayClassName, 'istio');
  });

  it('without --kubeconfig it reaches the local cluster through its runner, and says so when it is down', async () => {
    const root = join(dir, 'state');
    mkdirSync(join(root, 'wpcli'), { recursive: true });
    api.writeKubeconfig(join(root, 'wpcli', 'kubeconfig'));
    const env = { AMBIT_STATE_ROOT: root };
    const down = await ctl(['list', '--cluster', 'wpcli'], env);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /local cluster "wpcli" is not running/);
    // This test process stands in for the runner: alive, and ready.
    writeFileSync(join(root, 'wpcli', 'runner.json'), JSON.stringify({ state: 'ready', pid: process.pid }));
    const r = await ctl(['apply', '--cluster', 'wpcli', '-n', 'other', '--name', 'local-wp'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(((await gateway('other', 'local-wp'))['spec'] as { gatewayClassName: string }).gatewayClassName, 'istio-waypoint');
    const viaEnv = await ctl(['list', '-n', 'other'], { ...env, AMBIT_CLUSTER: 'wpcli' });
    assert.match(viaEnv.stdout, /^local-wp\s+default\s+none\s+False$/m);
  });
});
