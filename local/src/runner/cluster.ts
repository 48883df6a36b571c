import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
import { controllerPaths, controllerReady, startControllerProcess, writeNodeCredentials } from './controller-process.ts';
import type { ContainerHandle } from '../proc/supervisor.ts';
import { ambitCniPlugin, startNodeComponents, type NodeComponents } from './node-components.ts';
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
  /**
   * How Ambit itself runs (AMBIT_LOCAL_INSTALL): `runner` (default for now) starts the controller and each node's
   * agent and ztunnel as processes of the runner; `manifests` applies deploy/overlays/local through the API and waits
   * for its rollouts, as `kubectl apply -k` would in a cluster (install.ts), so the shipped manifests, flags and RBAC
   * are what runs; `none` starts no Ambit component, for a user (or a test) to install it with `kubectl apply -k
   * deploy/overlays/local` (pods start with the primary CNI alone; each node agent captures its node's running
   * ambient pods and chains ambit-cni in for the next ones).
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

export type InstallMode = 'runner' | 'manifests' | 'none';

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
  #controller: ContainerHandle | undefined;
  #nodeComponents: NodeComponents[] = [];
  #nodeApis: ContainerHandle[] = [];
  #tokens: LocalServiceAccountTokens | undefined;
  get #mode(): InstallMode {
    return this.opts.install ?? 'runner';
  }
  get #controllerLog(): string {
    return join(this.opts.paths.logDir, 'ambit-system', 'controller', 'controller.log');
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
    // Each node's primary CNI is bridge + host-local in the node's /etc/cni/net.d, where the node agent DaemonSet
    // chains ambit-cni in as in a cluster (runner mode: pre-chained to the runner's agents).
    const runner = this.#mode === 'runner';
    const topology = await createTopology({
      prefix: paths.prefix,
      nodes: this.opts.nodes,
      stateDir: paths.stateDir,
      log,
      ...(runner
        ? { cniBinDirs: [join(this.opts.repoRoot, 'cni', 'bin')], chainedPlugins: (node) => [ambitCniPlugin(paths.stateDir, node.name)] }
        : { nodeFiles: true }),
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
        // Until the cluster runs deploy/'s ztunnel DaemonSet: what its rolling update does on one node (tests).
        'ztunnel-replace': async (body) => this.#replaceZtunnel(body),
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
    const ctl = controllerPaths(paths.stateDir);
    if (this.#mode === 'runner') {
      writeNodeCredentials(paths.stateDir, topology.nodes, ctl);
      this.#controller = startControllerProcess({
        repoRoot: this.opts.repoRoot,
        kubeconfig: paths.kubeconfig,
        paths: ctl,
        logFile: this.#controllerLog,
        log,
        ...(this.opts.waypointCommand === undefined ? {} : { waypointCommand: this.opts.waypointCommand }),
      });
      this.#nodeComponents = topology.nodes.map((node) =>
        startNodeComponents({
          repoRoot: this.opts.repoRoot,
          stateDir: paths.stateDir,
          xdsSocket: ctl.xdsSocket,
          node,
          logDir: paths.logDir,
          log,
          ...(this.opts.certTtlSeconds !== undefined && { certTtlSeconds: this.opts.certTtlSeconds }),
        }),
      );
    }
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
      });
      applyObjects(target, install);
      await waitNodeAgents(store, this.opts.readyTimeoutMs);
    }
    applyObjects(target, objects);
    this.#watch = new ManifestWatch(this.opts.configDir, target, log);
    this.#watch.adopt(objects);
    this.#watch.start();
    await this.#waitReady(view, store, ctl.debugSocket);
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

  async #waitReady(view: StoreView, store: ObjectStore, controllerSocket: string): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (;;) {
      const ctl = this.#controller?.state();
      if (ctl?.phase === 'terminated' && ctl.reason === 'StartError')
        throw new AmbitError('CONTROLLER_START_FAILED', `controller could not start: ${ctl.message ?? ''}`);
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
      // Runner mode: the controller process answers /ready. Manifests: its Deployment and both DaemonSets rolled out
      // (the pods' readiness probes: the controller's /ready, ztunnel's /healthz/ready).
      const rollouts = this.#mode === 'manifests' ? pendingRollouts(store) : [];
      const controllerUp = this.#mode === 'runner' ? await controllerReady(controllerSocket) : rollouts.length === 0;
      if (waiting.length === 0 && deploymentsSettled && controllerUp) return;
      if (Date.now() > deadline) {
        // Say everything that is late: a slow controller must not hide a pod that can never start, nor the reverse.
        const late: string[] = [];
        if (waiting.length > 0 || !deploymentsSettled)
          late.push(`pods not ready: ${waiting.map(describeWaiting).join('; ') || 'deployments or daemonsets still rolling out'}`);
        if (rollouts.length > 0) late.push(`Ambit not rolled out: ${rollouts.join('; ')}`);
        else if (!controllerUp) late.push(`controller not ready; its log ends:\n${tailFile(this.#controllerLog, 15)}`);
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

  /** `{ node }` → the node's ztunnel replaced with surge (node-components.ts replaceZtunnel); answers once the old one exited. */
  async #replaceZtunnel(body: unknown): Promise<Record<string, unknown>> {
    const node = asRecord(body)['node'];
    if (typeof node !== 'string') throw ApiError.badRequest('body.node must be a node name');
    const index = this.#topology?.nodes.findIndex((n) => n.name === node) ?? -1;
    const components = this.#nodeComponents[index];
    if (components === undefined) throw new ApiError(404, 'NotFound', `nodes "${node}" not found`);
    const r = await components.replaceZtunnel();
    return { node, oldPid: r.oldPid, newPid: r.newPid, sigtermAtMs: r.sigtermAtMs, exitedAtMs: r.exitedAtMs };
  }

  /** Stops pods (short grace: the whole cluster is going), the API and controllers, then removes the network. */
  async stop(options: { keepInfo?: boolean } = {}): Promise<void> {
    const { log, paths } = this.opts;
    if (options.keepInfo !== true) this.#writeInfo({ state: 'stopping', pid: process.pid });
    this.#watch?.stop();
    await Promise.all(this.#controllers.map((c) => c.stop()));
    await Promise.all(this.#kubelets.map((k) => k.shutdown(2000)));
    this.#events?.close();
    // After the pods: their CNI DEL goes through the node agent. The API forwarders last: the agents read through them.
    await Promise.all(this.#nodeComponents.flatMap((c) => [...c.ztunnels().map((z) => z.stop(3000)), c.agent.stop(3000)]));
    await Promise.all(this.#nodeApis.map((f) => f.stop(3000)));
    await this.#controller?.stop(3000);
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

function tailFile(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
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

/**
 * Contract 2: the nodes' images. The Ambit image runs this checkout's `deploy/image/ambit` with AMBIT_HOME set, as
 * the Dockerfile's ENTRYPOINT runs the release under /opt/ambit, and as its `USER 10001:10001` unless the pod says
 * otherwise (so a manifest that forgets `runAsUser: 0` fails here as in a cluster).
 */
export function localImages(repoRoot: string, extra: Readonly<Record<string, readonly string[]>> = {}): Record<string, LocalImage> {
  const images: Record<string, LocalImage> = {
    [AMBIT_IMAGE]: {
      entrypoint: [join(repoRoot, 'deploy', 'image', 'ambit')],
      // PATH finds the runner's Node (the project's Node 24) first, as the image's PATH finds the Node it ships.
      env: { AMBIT_HOME: repoRoot, PATH: `${dirname(process.execPath)}:${SYSTEM_PATH}` },
      user: 10001,
      group: 10001,
      // The Dockerfile's WORKDIR /opt/ambit, i.e. AMBIT_HOME.
      workingDir: repoRoot,
    },
  };
  for (const [repo, entrypoint] of Object.entries(extra)) images[repo] = { entrypoint };
  return images;
}
