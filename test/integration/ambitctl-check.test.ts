// `ambitctl check` and `ambitctl version` as a user types them, against the local cluster's API server (TLS, token,
// the real kubectl for the set-up). The API here lacks Gateway API the way a real cluster does before its CRDs are
// installed: the kinds are not in discovery at all (the local cluster serves them built in; this store is made
// without them) — and installing CRDs for them, the fix check prints, makes them appear.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILTIN_TYPES, ResourceTypeRegistry } from '../../local/src/store/resource-types.ts';
import { ObjectStore } from '../../local/src/store/object-store.ts';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../local/testing/kubectl.ts';
import { REPO, run, type RunResult } from './helpers/ambitctl.ts';
import { assertGatewayApiMissing, gatewayApiCrds } from './helpers/gateway-api-crds.ts';

const BIN = join(REPO, 'cli', 'bin', 'ambitctl.js');
const GATEWAY_GROUP = 'gateway.networking.k8s.io';

const store = new ObjectStore({
  namespaces: ['default', 'kube-system', 'ambit-system'],
  types: new ResourceTypeRegistry(BUILTIN_TYPES.filter((t) => t.group !== GATEWAY_GROUP)),
});
let fx: KubectlFixture;

const ambitctl = (...args: string[]): Promise<RunResult> =>
  run([process.execPath, BIN, ...args, '--kubeconfig', join(fx.dir, 'kubeconfig')]);

function node(name: string, kernelVersion: string, ready: { status: string; reason?: string; message?: string }): void {
  store.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { conditions: [{ type: 'Ready', ...ready }], nodeInfo: { kernelVersion, kubeletVersion: 'v1.32.0' } },
  });
}

function pod(name: string, app: string, nodeName: string, image: string, ready: boolean): void {
  store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ambit-system', labels: { app } },
    spec: { nodeName, containers: [{ name: 'main', image }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
}

void describe('ambitctl check and version', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    node('node1', '6.1.0-18-amd64', { status: 'True', reason: 'KubeletReady' });
    node('node2', '5.10.0-28-amd64', {
      status: 'False',
      reason: 'KubeletNotReady',
      message:
        'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
    });
    node('node3', '4.19.0', { status: 'True', reason: 'KubeletReady' });
    fx = await startKubectlFixture(store);
  });
  after(() => fx.close());

  void it('check on a cluster lacking the Gateway API CRDs says exactly which, with the fix, and fails', async () => {
    const r = await ambitctl('check');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /✔ API server v1\.32\.0-ambit \(1\.28 or later\)/);
    assertGatewayApiMissing(r.stdout);
    // Nodes: the runtime's network as the kubelet reports it, and the kernel.
    assert.match(r.stdout, /✔ node node1: Ready, so its runtime has a working CNI network/);
    assert.match(
      r.stdout,
      /✖ node node2: not Ready: KubeletNotReady: container runtime network not ready: .*cni plugin not initialized\n {4}fix: install the cluster’s primary CNI/,
    );
    assert.match(r.stdout, /✔ node node1: kernel 6\.1\.0-18-amd64: nftables inet nat, tcp_migrate_req/);
    assert.match(r.stdout, /‼ node node2: kernel 5\.10\.0-28-amd64 has no tcp_migrate_req \(5\.14\+\)/);
    assert.match(r.stdout, /✖ node node3: kernel 4\.19\.0 lacks nftables nat in inet tables \(Linux 5\.2\+\)/);
    // Permissions: SelfSubjectAccessReviews as the kubeconfig's user, an admin (system:masters).
    assert.match(r.stdout, /✔ may create and update everything install applies \(\d+ kinds\)/);
    assert.match(r.stdout, /Status: \d+ check\(s\) failed/);
  });

  void it('after the fix (the CRDs applied), check finds Gateway API', async () => {
    const file = join(fx.dir, 'gateway-api-crds.yaml');
    writeFileSync(file, gatewayApiCrds());
    await fx.kubectlOk('apply', '-f', file);
    const r = await ambitctl('check', '-o', 'json');
    const report = JSON.parse(r.stdout) as { results: Array<{ section: string; status: string; message: string }> };
    const gw = report.results.filter((x) => x.section === 'Gateway API');
    assert.deepEqual(
      gw.map((x) => x.status),
      ['ok'],
      JSON.stringify(gw),
    );
    // Still failing for the nodes.
    assert.equal(r.code, 1);
  });

  void it('version: client, Kubernetes, the controller pods and each node’s ztunnel and node agent', async () => {
    pod('ambit-controller-a', 'ambit-controller', 'node1', 'ghcr.io/ambit-dev/ambit:0.1.0', true);
    pod('ambit-controller-b', 'ambit-controller', 'node2', 'ghcr.io/ambit-dev/ambit:0.1.0', false);
    pod('ztunnel-x', 'ztunnel', 'node1', 'ghcr.io/ambit-dev/ambit:0.1.0', true);
    pod('ztunnel-y', 'ztunnel', 'node2', 'ghcr.io/ambit-dev/ambit:0.2.0', true);
    pod('ambit-node-agent-x', 'ambit-node-agent', 'node1', 'ghcr.io/ambit-dev/ambit:0.1.0', true);
    const r = await ambitctl('version');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'client version: 0.1.0',
        'kubernetes version: v1.32.0-ambit',
        'control plane version: 0.1.0',
        '  POD                  NODE    IMAGE                           READY',
        '  ambit-controller-a   node1   ghcr.io/ambit-dev/ambit:0.1.0   true',
        '  ambit-controller-b   node2   ghcr.io/ambit-dev/ambit:0.1.0   false',
        'data plane version: 0.1.0, 0.2.0',
        '  NODE    ZTUNNEL   NODE AGENT',
        '  node1   0.1.0     0.1.0',
        '  node2   0.2.0     none',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await ambitctl('version', '-o', 'json')).stdout) as {
      dataPlane: Array<{ node: string; ztunnel: Array<{ pod: string }> }>;
    };
    assert.deepEqual(
      json.dataPlane.map((n) => [n.node, n.ztunnel.map((p) => p.pod)]),
      [
        ['node1', ['ztunnel-x']],
        ['node2', ['ztunnel-y']],
      ],
    );
  });
});

// install and uninstall through kubectl against the local API server (no controllers run here, so nothing rolls out:
// the rollout wait fails after its timeout, which is what it must do), with the default server-side apply.
void describe('ambitctl install and uninstall', { skip: KUBECTL_SKIP }, () => {
  const installStore = new ObjectStore();
  let ifx: KubectlFixture;
  const ctl = (...args: string[]): Promise<RunResult> => run([process.execPath, BIN, ...args, '--kubeconfig', join(ifx.dir, 'kubeconfig')]);
  const names = async (what: string, ...flags: string[]): Promise<string[]> =>
    (await ifx.kubectlOk('get', what, '-o', 'name', ...flags)).split('\n').filter((l) => l !== '');

  before(async () => {
    ifx = await startKubectlFixture(installStore);
  });
  after(() => ifx.close());

  void it('install applies CRDs and the namespace first, skips kinds the cluster lacks, and waits for each rollout', async () => {
    const r = await ctl('install', '--timeout', '2s', '--set', 'image.tag=0.1.0');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /skipping PodMonitor ambit-system\/ztunnel: the cluster does not serve monitoring\.coreos\.com\/v1 PodMonitor/);
    assert.match(r.stdout, /namespace\/ambit-system serverside-applied/);
    assert.match(r.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/localratelimits\.ambit\.dev serverside-applied/);
    assert.match(r.stdout, /daemonset\.apps\/ambit-node-agent serverside-applied/);
    assert.match(r.stdout, /waiting for Deployment ambit-system\/ambit-controller to roll out…/);
    assert.match(r.stderr, /Deployment ambit-system\/ambit-controller did not roll out within 2s/);
    assert.deepEqual((await names('daemonsets', '-n', 'ambit-system')).sort(), [
      'daemonset.apps/ambit-node-agent',
      'daemonset.apps/ztunnel',
    ]);
    assert.deepEqual(await names('clusterrole', 'ambit-node-agent'), ['clusterrole.rbac.authorization.k8s.io/ambit-node-agent']);
    // Applied server-side, by ambitctl's field manager.
    const managers = JSON.parse(
      await ifx.kubectlOk('get', 'ds', 'ztunnel', '-n', 'ambit-system', '--show-managed-fields', '-o', 'json'),
    ) as {
      metadata: { managedFields?: Array<{ manager: string; operation: string }> };
    };
    assert.ok(
      managers.metadata.managedFields?.some((f) => f.manager === 'ambitctl' && f.operation === 'Apply'),
      JSON.stringify(managers.metadata.managedFields),
    );
  });

  void it('uninstall removes everything but the namespace and CRDs; --purge removes those too', async () => {
    installStore.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ambit-ca-root-cert', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'ambit' } },
    });
    installStore.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ambit-ca', namespace: 'ambit-system', labels: { 'app.kubernetes.io/managed-by': 'ambit' } },
    });
    const r = await ctl('uninstall', '--timeout', '20s');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /removing the node agents/);
    // A namespace's own default ServiceAccount is not Ambit's.
    const left = await names('daemonsets,deployments,serviceaccounts,roles,rolebindings,configmaps,services', '-n', 'ambit-system');
    assert.deepEqual(
      left.filter((n) => n !== 'serviceaccount/default'),
      [],
    );
    assert.deepEqual(await names('configmaps', '-A', '-l', 'app.kubernetes.io/managed-by=ambit'), []);
    assert.deepEqual(await names('clusterroles', '-l', 'app.kubernetes.io/part-of=ambit'), []);
    assert.deepEqual(await names('secret', '-n', 'ambit-system'), ['secret/ambit-ca']);
    assert.ok((await names('crd')).includes('customresourcedefinition.apiextensions.k8s.io/localratelimits.ambit.dev'));

    const purge = await ctl('uninstall', '--purge', '--timeout', '20s');
    assert.equal(purge.code, 0, purge.stdout + purge.stderr);
    assert.ok(!(await names('crd')).some((n) => /ambit\.dev|istio\.io/.test(n)));
    assert.ok(!(await names('namespaces')).includes('namespace/ambit-system'));
  });
});
