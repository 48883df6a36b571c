import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Logger } from '@ambit/core';
import { AmbitError, asRecord, errorMessage } from '@ambit/core';
import { createApiServer } from '../api/server.ts';
import { startClusterRoleAggregation } from '../auth/store-policy.ts';
import {
  createServiceAccountTokens,
  loadOrCreateSigningKey,
  type LocalServiceAccountTokens,
  type TokenObjectKind,
} from '../auth/tokens.ts';
import { createServingCert } from '../api/self-signed-cert.ts';
import { ensureKubernetesService, startKubernetesServiceController } from '../cluster/kubernetes-service.ts';
import { createAdmission } from '../cluster/admission.ts';
import type { Controller } from '../cluster/controller.ts';
import { startDaemonSetController } from '../cluster/daemonset-controller.ts';
import { startDeploymentController } from '../cluster/deployment-controller.ts';
import { startEndpointSliceController } from '../cluster/endpointslice-controller.ts';
import { startGarbageCollector } from '../cluster/garbage-collector.ts';
import { EventRecorder } from '../cluster/events.ts';
import { Kubelet } from '../cluster/kubelet.ts';
import type { LocalImage } from '../cluster/container-spec.ts';
import { startRootCaPublisher } from '../cluster/root-ca-publisher.ts';
import { startReplicaSetController } from '../cluster/replicaset-controller.ts';
import { startServiceAccountController } from '../cluster/serviceaccount-controller.ts';
import { startServiceProxy } from '../cluster/service-proxy-controller.ts';
import { isPodReady, nowRfc3339, type StoreView } from '../cluster/store-view.ts';
import type { KubeObject } from '../kube/types.ts';
import type { SourcedObject } from '../manifest/load.ts';
import { createTopology, destroyTopology, type Topology } from '../net/topology.ts';
import { ApiError } from '../store/api-error.ts';
import { ObjectStore } from '../store/object-store.ts';
import { BUILTIN_TYPES, ResourceTypeRegistry, withoutGatewayApi } from '../store/resource-types.ts';
import { applyObjects, deleteObjects } from './apply.ts';
import { crdDir, installCrds, readCrds } from './crds.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { ManifestWatch, loadDirectory } from './manifest-watch.ts';
import type { ClusterPaths, RunnerInfo } from './paths.ts';
import { applyTarget, gcStore, storeView } from './store-adapter.ts';
import type { ContainerHandle } from '../proc/supervisor.ts';
import { buildStaleBundles } from './bundles.ts';
import { SYSTEM_PATH } from '../net/exec.ts';
import { applyTweaks, pendingRollouts, renderOverlay, waitNodeAgents } from './install.ts';
import { NODE_API_PORT, startNodeApi } from './node-api.ts';

export interface ClusterOptions {
  readonly paths: ClusterPaths;
  readonly nodes: number;
  readonly configDir: string;
  /** How long `up` waits for every pod to be ready; default 60 s. */
  readonly readyTimeoutMs: number;
  readonly log: Logger;
  /** Repository root: where the controller's entry point and node_modules are. */
  readonly repoRoot: string;
  /** Workload certificate lifetime the ztunnels ask for; default theirs (24 h). */
  readonly certTtlSeconds?: number;
  /** What waypoint pods run instead of this checkout's waypoint, as a JSON argv (AMBIT_WAYPOINT_COMMAND). */
  readonly waypointCommand?: string;
  /** NODE_OPTIONS of every ztunnel (AMBIT_ZTUNNEL_NODE_OPTIONS). */
  readonly ztunnelNodeOptions?: string;
  /**
   * How Ambit itself is installed (AMBIT_LOCAL_INSTALL): `manifests` (default) applies deploy/overlays/local through
   * the API and waits for its rollouts, as `kubectl apply -k` would in a cluster (install.ts), so the shipped
   * manifests, flags and RBAC are what runs; `none` installs nothing, for a user (or a test) to install it with
   * `kubectl apply -k deploy/overlays/local` or `ambitctl install` (pods start with the primary CNI alone; each node
   * agent captures its node's running ambient pods and chains ambit-cni in for the next ones).
   */
  readonly install?: InstallMode;
  /**
   * Whether Gateway API's kinds are served built in (default true). False (AMBIT_LOCAL_GATEWAY_API=none): not served
   * until their CRDs are applied, as in a fresh kind or GKE cluster (what `ambitctl check` looks for).
   */
  readonly gatewayApi?: boolean;
  /**
   * Images the nodes "have" (contract 2): image repository → the host argv that is its ENTRYPOINT. Added to the
   * default, `ghcr.io/ambit-dev/ambit` → this checkout's `deploy/image/ambit` (with AMBIT_HOME=repoRoot).
   */
  readonly images?: Readonly<Record<string, readonly string[]>>;
}

export type InstallMode = 'manifests' | 'none';

/** Namespaces of a fresh cluster, plus Ambit's own. */
const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'ambit-system'];

/**
 * One local cluster: the sealed network, the object store and its API, the controllers a control plane runs, and a
 * kubelet per node. `start` brings it up from the manifest directory; `stop` takes everything down again.
 */
export class LocalCluster {
  #topology: Topology | undefined;
  #api: { close(): Promise<void> } | undefined;
  #events: EventRecorder | undefined;
  #controllers: Controller[] = [];
  #kubelets: Kubelet[] = [];
  #watch: ManifestWatch | undefined;
  #view: StoreView | undefined;
  #nodeApis: ContainerHandle[] = [];
  #tokens: LocalServiceAccountTokens | undefined;
  get #mode(): InstallMode {
    return this.opts.install ?? 'manifests';
  }

  constructor(private readonly opts: ClusterOptions) {}

  /** The cluster's ServiceAccount tokens (the kubelets mount them, the API authenticates them); set by `start`. */
  get serviceAccountTokens(): LocalServiceAccountTokens {
    assert(this.#tokens !== undefined, 'BUG: ServiceAccount tokens read before the cluster started');
    return this.#tokens;
  }

  async start(): Promise<void> {
    const { paths, log } = this.opts;
    this.#writeInfo({ state: 'starting', pid: process.pid });
    const objects = loadDirectory(this.opts.configDir);
    // The Ambit image maps to this checkout (localImages): like an image build, bring its bundles up to date first.
    await buildStaleBundles(this.opts.repoRoot, log);
    // Each node's primary CNI is bridge + host-local in the node's /etc/cni/net.d, where the node agent DaemonSet
    // chains ambit-cni in as in a cluster.
    const topology = await createTopology({
      prefix: paths.prefix,
      nodes: this.opts.nodes,
      stateDir: paths.stateDir,
      log,
      nodeFiles: true,
    });
    this.#topology = topology;
    const nodeNames = topology.nodes.map((n) => n.name);
    // Admission reads the store it guards (e.g. taken ClusterIPs): the view is bound once the store exists.
    const bound: { view?: StoreView } = {};
    // The kubelets issue ServiceAccount tokens, so pods get kube-api-access volumes as in a cluster.
    const admit = createAdmission(
      () => {
        assert(bound.view !== undefined, 'BUG: admission before the store view exists');
        return bound.view;
      },
      nodeNames,
      { serviceAccountTokens: true },
    );
    const store = new ObjectStore({
      admission: [{ admit }],
      namespaces: SYSTEM_NAMESPACES,
      log,
      ...(this.opts.gatewayApi === false && { types: new ResourceTypeRegistry(withoutGatewayApi(BUILTIN_TYPES)) }),
    });
    const view = storeView(store);
    bound.view = view;
    this.#view = view;
    // Ambit's own kinds are served from the start, as in a cluster where Ambit is installed.
    installCrds(store, readCrds(crdDir(this.opts.repoRoot)));
    for (const n of topology.nodes) view.create(nodeObject(n.name, n.ip, n.podCidr));
    // In-cluster clients reach the API through default/kubernetes (10.96.0.1:443), whose endpoints are the nodes'
    // API forwarders; it exists before any pod, so every pod gets KUBERNETES_SERVICE_HOST/PORT.
    const apiEndpoints = { ips: topology.nodes.map((n) => n.ip), port: NODE_API_PORT };
    ensureKubernetesService(view, apiEndpoints);
    const target = applyTarget(store);
    const tokens = await serviceAccountTokens(store, join(paths.stateDir, 'sa.key'));
    this.#tokens = tokens;
    const token = randomBytes(24).toString('base64url');
    const api = await createApiServer({
      store,
      listen: { host: '127.0.0.1', port: 0 },
      tls: await createServingCert('ambit-local-api', new Date(), 3650, apiEndpoints.ips),
      socketPath: paths.apiSocket,
      tlsSocketPath: paths.apiTlsSocket,
      token,
      serviceAccountTokens: tokens,
      log,
      podLogDir: paths.logDir,
      extensions: {
        apply: async (body) => applyObjects(target, objectsOf(body)),
        delete: async (body) => deleteObjects(target, objectsOf(body)),
        'pod-netns': async (body) => this.#podNetns(body),
      },
    });
    this.#api = api;
    writeKubeconfig(paths.kubeconfig, paths.name, api.url, token, api.caCertPem);
    assert(api.caCertPem !== undefined, 'BUG: the local API serves TLS; nodes need its certificate');
    const nodeApi = { clusterName: paths.name, tlsSocket: paths.apiTlsSocket, caCertPem: api.caCertPem, token };
    mkdirSync(paths.logDir, { recursive: true });
    this.#nodeApis = topology.nodes.map((node) =>
      startNodeApi({ repoRoot: this.opts.repoRoot, stateDir: paths.stateDir, api: nodeApi, node, logDir: paths.logDir, log }),
    );
    const events = new EventRecorder({ view, log });
    this.#events = events;
    this.#controllers = [
      startKubernetesServiceController(view, apiEndpoints, log),
      startServiceAccountController(view, log),
      startDeploymentController(view, log, events),
      startReplicaSetController(view, log, events),
      startDaemonSetController(view, log, events),
      startEndpointSliceController(view, log),
      startServiceProxy(view, topology, log),
      startGarbageCollector(gcStore(store), log),
      startRootCaPublisher(view, api.caCertPem, log),
      startClusterRoleAggregation(store, log),
    ];
    mkdirSync(paths.logDir, { recursive: true });
    const images = localImages(this.opts.repoRoot, this.opts.images);
    this.#kubelets = topology.nodes.map(
      (node) =>
        new Kubelet(view, { topology, node, logDir: paths.logDir, defaultWorkdir: this.opts.configDir, log, events, images, tokens }),
    );
    if (this.#mode === 'manifests') {
      // Ambit first, as a user installs it before their apps: the apps once every node agent has chained ambit-cni in
      // (its readiness), so their ambient pods are captured as they start; their CNI ADD waits (the kubelet retries
      // the sandbox) until the node's ztunnel is up too.
      const install = applyTweaks(await renderOverlay(this.opts.repoRoot), {
        ...(this.opts.certTtlSeconds !== undefined && { certTtlSeconds: this.opts.certTtlSeconds }),
        ...(this.opts.waypointCommand !== undefined && { waypointCommand: this.opts.waypointCommand }),
        ...(this.opts.ztunnelNodeOptions !== undefined && { ztunnelNodeOptions: this.opts.ztunnelNodeOptions }),
      });
      applyObjects(target, install);
      await waitNodeAgents(store, this.opts.readyTimeoutMs);
    }
    applyObjects(target, objects);
    this.#watch = new ManifestWatch(this.opts.configDir, target, log);
    this.#watch.adopt(objects);
    this.#watch.start();
    await this.#waitReady(view, store);
    this.#writeInfo({
      state: 'ready',
      pid: process.pid,
      apiUrl: api.url,
      configDir: this.opts.configDir,
      nodes: topology.nodes.map((n) => ({ name: n.name, ip: n.ip, podCidr: n.podCidr, netns: n.netns })),
    });
    log.info({ api: api.url, nodes: nodeNames }, 'local cluster ready');
  }

  /** Marks the start as failed so `ambitctl local up` can report why. */
  fail(err: unknown): void {
    this.#writeInfo({ state: 'failed', pid: process.pid, error: errorMessage(err) });
  }

  async #waitReady(view: StoreView, store: ObjectStore): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (;;) {
      const pods = view.list('Pod');
      const failed = pods.find((p) => asRecord(p['status'])['phase'] === 'Failed');
      if (failed !== undefined) {
        const st = asRecord(failed['status']);
        throw new AmbitError(
          'POD_FAILED',
          `pod ${failed.metadata.namespace}/${failed.metadata.name} failed: ${String(st['message'] ?? st['reason'] ?? 'see its logs')}`,
        );
      }
      const waiting = pods.filter((p) => !isPodReady(p));
      const deploymentsSettled =
        view.list('Deployment').every((d) => {
          const want = asRecord(d['spec'])['replicas'] ?? 1;
          return asRecord(d['status'])['readyReplicas'] === want || want === 0;
        }) && view.list('DaemonSet').every(daemonSetRolledOut);
      // Ambit installed: its Deployment and both DaemonSets rolled out (the pods' readiness probes: the controller's
      // /ready, ztunnel's ready file).
      const rollouts = this.#mode === 'manifests' ? pendingRollouts(store) : [];
      if (waiting.length === 0 && deploymentsSettled && rollouts.length === 0) return;
      if (Date.now() > deadline) {
        // Say everything that is late: a slow controller must not hide a pod that can never start, nor the reverse.
        const late: string[] = [];
        if (waiting.length > 0 || !deploymentsSettled)
          late.push(`pods not ready: ${waiting.map(describeWaiting).join('; ') || 'deployments or daemonsets still rolling out'}`);
        if (rollouts.length > 0) late.push(`Ambit not rolled out: ${rollouts.join('; ')}`);
        throw new AmbitError('CLUSTER_NOT_READY', `not ready after ${this.opts.readyTimeoutMs / 1000}s: ${late.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #podNetns(body: unknown): Promise<{ netns: string; node: string }> {
    const b = asRecord(body);
    const ns = typeof b['namespace'] === 'string' ? b['namespace'] : 'default';
    const name = typeof b['name'] === 'string' ? b['name'] : '';
    const pod = this.#view?.find('Pod', ns, name);
    if (pod === undefined) throw new ApiError(404, 'NotFound', `pods "${name}" not found in namespace "${ns}"`);
    for (const k of this.#kubelets) {
      const netns = k.netnsOf(ns, name);
      if (netns !== undefined) return { netns, node: String(asRecord(pod['spec'])['nodeName']) };
    }
    throw new ApiError(409, 'Conflict', `pod ${ns}/${name} has no running sandbox (phase ${String(asRecord(pod['status'])['phase'])})`);
  }

  /** Stops pods (short grace: the whole cluster is going), the API and controllers, then removes the network. */
  async stop(options: { keepInfo?: boolean } = {}): Promise<void> {
    const { log, paths } = this.opts;
    if (options.keepInfo !== true) this.#writeInfo({ state: 'stopping', pid: process.pid });
    this.#watch?.stop();
    await Promise.all(this.#controllers.map((c) => c.stop()));
    // The network goes right after: no CNI DEL per pod.
    await Promise.all(this.#kubelets.map((k) => k.shutdown(2000, { networkGoing: true })));
    this.#events?.close();
    // After the pods (the node agents among them read the API through these forwarders).
    await Promise.all(this.#nodeApis.map((f) => f.stop(3000)));
    await this.#api?.close();
    if (this.#topology !== undefined)
      await destroyTopology(this.#topology, log).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'topology teardown'));
    if (options.keepInfo === true) {
      // A failed start keeps only runner.json, for `ambitctl local up` to report; it removes the directory after.
      for (const entry of readdirSync(paths.stateDir)) {
        if (join(paths.stateDir, entry) !== paths.runnerInfo) rmSync(join(paths.stateDir, entry), { recursive: true, force: true });
      }
    } else rmSync(paths.stateDir, { recursive: true, force: true });
  }

  #writeInfo(info: RunnerInfo): void {
    mkdirSync(this.opts.paths.stateDir, { recursive: true, mode: 0o700 });
    // Written whole then renamed, so a reader never sees half a file.
    const tmp = `${this.opts.paths.runnerInfo}.tmp`;
    writeFileSync(tmp, JSON.stringify(info));
    renameSync(tmp, this.opts.paths.runnerInfo);
  }
}

/** What `kubectl rollout status ds` waits for: the spec observed, and every node's pod updated and available. */
function daemonSetRolledOut(ds: KubeObject): boolean {
  const st = asRecord(ds['status']);
  const desired = st['desiredNumberScheduled'];
  return (
    typeof st['observedGeneration'] === 'number' &&
    st['observedGeneration'] >= (ds.metadata.generation ?? 1) &&
    st['updatedNumberScheduled'] === desired &&
    st['numberAvailable'] === desired
  );
}

/** `ns/name (container: reason: message)`, so a start that times out says why each pod is late. */
function describeWaiting(pod: KubeObject): string {
  const statuses = asRecord(pod['status'])['containerStatuses'];
  const why = (Array.isArray(statuses) ? statuses : []).map((cs) => {
    const c = asRecord(cs);
    const state = asRecord(c['state']);
    const detail = asRecord(state['waiting'] ?? state['terminated']);
    const reason = [detail['reason'], detail['message']].filter((x) => typeof x === 'string' && x !== '').join(': ');
    return reason === '' ? undefined : `${String(c['name'])}: ${reason}`;
  });
  const reasons = why.filter((x) => x !== undefined);
  const podStatus = asRecord(pod['status']);
  if (reasons.length === 0 && typeof podStatus['message'] === 'string')
    reasons.push(`${String(podStatus['reason'] ?? 'pod')}: ${podStatus['message']}`);
  return `${pod.metadata.namespace}/${pod.metadata.name}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`;
}

/** The cluster's ServiceAccount token issuer/verifier, with its signing key kept in the state directory. */
async function serviceAccountTokens(store: ObjectStore, keyPath: string): Promise<LocalServiceAccountTokens> {
  const signingKey = await loadOrCreateSigningKey(keyPath);
  return createServiceAccountTokens({
    signingKey,
    find: (kind: TokenObjectKind, namespace, name) =>
      store.find(store.typeOf({ apiVersion: 'v1', kind }), kind === 'Node' ? undefined : namespace, name),
  });
}

function objectsOf(body: unknown): SourcedObject[] {
  const objects = asRecord(body)['objects'];
  if (!Array.isArray(objects)) throw ApiError.badRequest('body.objects must be a list of {file, path, document, object}');
  return objects as SourcedObject[];
}

function nodeObject(name: string, ip: string, podCidr: string): KubeObject {
  const now = nowRfc3339();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'ambit-local' },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'ambit local kubelet is ready',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.0-ambit',
        operatingSystem: 'linux',
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      },
    },
  };
}

/** The repository of the image the manifests run (deploy/): every Ambit component. */
export const AMBIT_IMAGE = 'ghcr.io/ambit-dev/ambit';

/** Where the Dockerfile puts the release (WORKDIR, AMBIT_HOME): the local image's files are mounted there too. */
export const AMBIT_IMAGE_HOME = '/opt/ambit';

/**
 * Contract 2: the nodes' images. The Ambit image is this checkout, mounted read-only at /opt/ambit in each of its
 * containers as the Dockerfile lays the release out there (`deploy/image/ambit` with AMBIT_HOME=/opt/ambit, WORKDIR
 * /opt/ambit), running as its `USER 10001:10001` unless the pod says otherwise (so a manifest that forgets
 * `runAsUser: 0` fails here as in a cluster). Mounted rather than used in place, so a checkout the image's user cannot
 * reach (under root's 0700 home) or one a volume hides (under /tmp, where pods mount an emptyDir) works all the same.
 */
export function localImages(repoRoot: string, extra: Readonly<Record<string, readonly string[]>> = {}): Record<string, LocalImage> {
  const inImage = (hostPath: string): string =>
    hostPath.startsWith(`${repoRoot}/`) ? join(AMBIT_IMAGE_HOME, relative(repoRoot, hostPath)) : hostPath;
  const images: Record<string, LocalImage> = {
    [AMBIT_IMAGE]: {
      entrypoint: [join(AMBIT_IMAGE_HOME, 'deploy', 'image', 'ambit')],
      // PATH finds the project's Node 24 first (inside the checkout, so seen through the mount), as the image's PATH
      // finds the Node it ships.
      env: { AMBIT_HOME: AMBIT_IMAGE_HOME, PATH: `${inImage(dirname(process.execPath))}:${SYSTEM_PATH}` },
      user: 10001,
      group: 10001,
      workingDir: AMBIT_IMAGE_HOME,
      files: { hostDir: repoRoot, mountPath: AMBIT_IMAGE_HOME },
    },
  };
  for (const [repo, entrypoint] of Object.entries(extra)) images[repo] = { entrypoint };
  return images;
}
