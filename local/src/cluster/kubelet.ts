import { mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '@ambit/core';
import { asRecord, errorMessage, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { createPodSandbox, deletePodSandbox, writePodHosts, type PodSandbox } from '../net/pod-sandbox.ts';
import type { NodeNet, Topology } from '../net/topology.ts';
import { rotateLogIfLarger } from '../proc/log-rotation.ts';
import { startContainer, type ContainerHandle, type ContainerState } from '../proc/supervisor.ts';
import { containerStateToProber, createContainerProbes } from './container-probes.ts';
import type { EventRecorder, EventType } from './events.ts';
import { hostsFor } from './hosts.ts';
import type { ContainerProber } from './prober.ts';
import { prepareContainer } from './container-start.ts';
import { ContainerConfigError } from './container-mounts.ts';
import { localImageFor, type LocalImage } from './container-spec.ts';
import { hostNetworkSandbox } from './host-network.ts';
import type { TokenIssuer } from './token-issuer.ts';
import { podDir, removePodDir, setUpPodVolumes, VolumeMountError, type PodVolumes } from './volumes.ts';
import { isPodReady, key, nowRfc3339, splitKey, type StoreView } from './store-view.ts';
import { WorkQueue } from './work-queue.ts';

export interface KubeletOptions {
  readonly topology: Topology;
  readonly node: NodeNet;
  /** Directory for per-container logs: `<logDir>/<namespace>/<pod>/<container>.log`. */
  readonly logDir: string;
  /** Where relative commands run when neither the container nor the pod says (the cluster's manifest dir). */
  readonly defaultWorkdir: string;
  readonly log: Logger;
  /** Where pod lifecycle Events go (Scheduled, Pulled, Created, Started, BackOff, Killing, FailedCreatePodSandBox). */
  readonly events?: EventRecorder;
  /** A container's log file is rotated (one old copy kept) past this size; default 10 MiB, the kubelet's default. */
  readonly logMaxBytes?: number;
  /** How often log sizes are checked; default 10,000 ms. */
  readonly logCheckIntervalMs?: number;
  /** Images this node "has", by repository (contract 2); a container naming another image runs its command from the host. */
  readonly images?: Readonly<Record<string, LocalImage>>;
  /** Issues projected ServiceAccount tokens (contract 3); without one, pods with token volumes fail to mount. */
  readonly tokens?: TokenIssuer;
}

interface RunningContainer {
  handle: ContainerHandle;
  state: ContainerState;
  /** Its readiness/liveness/startup probes; undefined without any. */
  prober?: ContainerProber | undefined;
}

interface RunningPod {
  readonly uid: string;
  readonly sandbox: PodSandbox;
  /** Runs in the node's namespace: no CNI, nothing of the sandbox to delete but its /etc files. */
  readonly hostNetwork: boolean;
  /** Rewrites the pod's written volumes when a projected token reaches 80 % of its lifetime. */
  refreshTimer?: NodeJS.Timeout;
  readonly containers: Map<string, RunningContainer>;
  readonly startedAt: string;
}

/** Annotation naming the directory relative commands and workingDirs are resolved against. */
export const WORKDIR_ANNOTATION = 'ambit.dev/workdir';

/**
 * The node agent of the local cluster, one per node, doing what a kubelet and its container runtime do: for every
 * pod bound to its node it creates the pod's network namespace through the node's CNI chain, starts the containers'
 * processes inside it, reports status, and on deletion stops them within the grace period, runs CNI DEL and only then
 * removes the pod object (so "terminating" is observable, as in a cluster).
 */
export class Kubelet {
  readonly #pods = new Map<string, RunningPod>();
  readonly #queue: WorkQueue;
  readonly #hostsQueue: WorkQueue;
  readonly #unsubscribe: () => void;
  /** Pod uids whose Scheduled Event is recorded (a sandbox retry must not repeat it). */
  readonly #scheduled = new Set<string>();
  readonly #logTimer: NodeJS.Timeout;

  constructor(
    private readonly view: StoreView,
    private readonly opts: KubeletOptions,
  ) {
    const log = opts.log.child({ node: opts.node.name });
    this.#queue = new WorkQueue((k) => this.#reconcile(k), log);
    // Hosts files are rewritten per namespace in one batch after Service changes settle.
    this.#hostsQueue = new WorkQueue(() => this.#rewriteHosts(), log);
    this.#unsubscribe = view.onChange((e) => {
      const o = e.object;
      if (o.kind === 'Pod' && asRecord(o['spec'])['nodeName'] === opts.node.name) {
        this.#queue.add(key(o));
        // A node pod that just became ready (the node agent, ztunnel) is what a waiting sandbox (CNI ADD) needs: try
        // the waiting pods now rather than at the end of their back-off.
        if (e.type !== 'DELETED' && isPodReady(o)) this.#retryWaiting(undefined);
      }
      if (o.kind === 'Service') this.#hostsQueue.add('all');
      // A pod whose volume names a ConfigMap or Secret that did not exist yet waits for it (FailedMount, with
      // back-off): try again as soon as one appears or changes.
      if ((o.kind === 'ConfigMap' || o.kind === 'Secret') && e.type !== 'DELETED') this.#retryWaiting(o.metadata.namespace);
    });
    for (const pod of view.list('Pod')) {
      if (asRecord(pod['spec'])['nodeName'] === opts.node.name) this.#queue.add(key(pod));
    }
    this.#logTimer = setInterval(() => this.#rotateLogs(), opts.logCheckIntervalMs ?? 10_000);
    this.#logTimer.unref();
  }

  /** Re-queues this node's pods that are bound here but not started yet (in `namespace`, or all). */
  #retryWaiting(namespace: string | undefined): void {
    for (const pod of this.view.list('Pod', namespace)) {
      if (asRecord(pod['spec'])['nodeName'] !== this.opts.node.name || pod.metadata.deletionTimestamp !== undefined) continue;
      const k = key(pod);
      if (!this.#pods.has(k)) this.#queue.add(k);
    }
  }

  #rotateLogs(): void {
    for (const [k, running] of this.#pods) {
      const [ns = 'default', name] = splitKey(k);
      for (const cname of running.containers.keys()) {
        const file = join(this.opts.logDir, ns, name, `${cname}.log`);
        try {
          rotateLogIfLarger(file, this.opts.logMaxBytes ?? 10 * 1024 * 1024);
        } catch (err) {
          this.opts.log.warn({ file, err: errorMessage(err) }, 'container log rotation failed');
        }
      }
    }
  }

  /** The pod's network namespace name, for `ambitctl local exec`. */
  netnsOf(namespace: string, name: string): string | undefined {
    return this.#pods.get(`${namespace}/${name}`)?.sandbox.netns;
  }

  async #reconcile(k: string): Promise<void> {
    const [ns, name] = splitKey(k);
    const pod = this.view.find('Pod', ns, name);
    const running = this.#pods.get(k);
    if (running !== undefined && (pod === undefined || pod.metadata.uid !== running.uid)) {
      this.#scheduled.delete(running.uid);
      await this.#teardown(k, running, 0);
    }
    if (pod === undefined) return;
    if (pod.metadata.deletionTimestamp !== undefined) {
      const cur = this.#pods.get(k);
      const graceMs = (pod.metadata.deletionGracePeriodSeconds ?? 30) * 1000;
      if (cur !== undefined) {
        for (const c of cur.containers.values()) c.prober?.podTerminating();
        for (const cname of cur.containers.keys()) this.#event(pod, 'Normal', 'Killing', `Stopping container ${cname}`, cname);
        await this.#teardown(k, cur, graceMs);
      }
      this.#scheduled.delete(pod.metadata.uid ?? '');
      removePodDir(this.opts.topology.stateDir, pod.metadata.uid ?? '');
      this.view.remove('Pod', ns, name, 0);
      return;
    }
    if (this.#pods.has(k)) return;
    const phase = asRecord(pod['status'])['phase'];
    if (phase === 'Failed' || phase === 'Succeeded') return;
    await this.#start(k, pod);
  }

  #event(pod: KubeObject, type: EventType, reason: string, message: string, container?: string): void {
    const fieldPath = container === undefined ? undefined : `spec.containers{${container}}`;
    this.opts.events?.record(pod, type, reason, message, { component: 'kubelet', host: this.opts.node.name }, fieldPath);
  }

  /** Events for a container's state change, as the kubelet writes them (images are never pulled: they are "present"). */
  #containerEvents(pod: KubeObject, cname: string, image: string, prev: ContainerState, next: ContainerState): void {
    if (next.phase === 'running' && (prev.phase !== 'running' || next.restarts !== prev.restarts)) {
      // Local containers need no image; one that names none gets no Pulled Event.
      if (image !== '') this.#event(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`, cname);
      this.#event(pod, 'Normal', 'Created', `Created container ${cname}`, cname);
      this.#event(pod, 'Normal', 'Started', `Started container ${cname}`, cname);
    } else if (next.phase === 'waiting' && next.reason === 'CrashLoopBackOff' && prev.reason !== 'CrashLoopBackOff') {
      const { name, namespace, uid } = pod.metadata;
      this.#event(
        pod,
        'Warning',
        'BackOff',
        `Back-off restarting failed container ${cname} in pod ${name ?? ''}_${namespace ?? ''}(${uid ?? ''})`,
        cname,
      );
    } else if (next.phase === 'terminated' && next.reason === 'StartError' && prev.reason !== 'StartError') {
      this.#event(pod, 'Warning', 'Failed', `Error: ${next.message ?? 'container could not start'}`, cname);
    }
  }

  async #start(k: string, pod: KubeObject): Promise<void> {
    const [ns = 'default', name] = splitKey(k);
    const uid = pod.metadata.uid ?? '';
    if (!this.#scheduled.has(uid)) {
      this.#scheduled.add(uid);
      // Scheduling happens at admission (cluster/admission.ts); its Event is written when the node picks the pod up.
      this.opts.events?.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${this.opts.node.name}`, {
        component: 'default-scheduler',
      });
    }
    // Volumes before the sandbox, as the kubelet's volume manager runs before SyncPod creates it.
    let volumes: PodVolumes;
    try {
      volumes = setUpPodVolumes(pod, this.#volumeContext());
    } catch (err) {
      // FailedMount: the pod stays Pending (ContainerCreating) and the mount is retried with backoff.
      this.opts.log.warn({ pod: k, err: errorMessage(err) }, 'volume set-up failed; will retry');
      this.#event(pod, 'Warning', 'FailedMount', errorMessage(err));
      this.#writeStatus(k, { phase: 'Pending' });
      throw err;
    }
    const spec = asRecord(pod['spec']);
    const hostNetwork = spec['hostNetwork'] === true;
    let sandbox: PodSandbox;
    try {
      sandbox = hostNetwork
        ? await hostNetworkSandbox(this.opts.node, { uid, namespace: ns, name }, podDir(this.opts.topology.stateDir, uid))
        : await createPodSandbox(this.opts.topology, this.opts.node, { uid, namespace: ns, name }, this.opts.log);
    } catch (err) {
      // As a kubelet does (FailedCreatePodSandBox): the pod stays Pending and the sandbox is retried with backoff,
      // e.g. while the node agent or ztunnel that an ambient pod's CNI ADD waits on is still starting.
      this.opts.log.warn({ pod: k, err: errorMessage(err) }, 'pod sandbox failed; will retry');
      this.#event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${errorMessage(err)}`);
      this.#writeStatus(k, { phase: 'Pending', reason: 'FailedCreatePodSandBox', message: errorMessage(err) });
      throw err;
    }
    const running: RunningPod = { uid, sandbox, hostNetwork, containers: new Map(), startedAt: nowRfc3339() };
    this.#pods.set(k, running);
    this.#scheduleRefresh(k, running, volumes.refreshAtMs);
    const withIp = this.#writeStatus(k, { phase: 'Pending', podIP: sandbox.ip }) ?? pod;
    // The namespace's Services, and default/kubernetes for every pod, as the kubelet's service env does (its
    // KUBERNETES_SERVICE_HOST/PORT are what in-cluster clients connect to).
    const apiService = this.view.find('Service', 'default', 'kubernetes');
    const services = [...this.view.list('Service', ns), ...(ns === 'default' || apiService === undefined ? [] : [apiService])];
    await writePodHosts(sandbox, hostsFor(withIp, this.view.list('Service')));
    const restartPolicy = spec['restartPolicy'] === 'Never' || spec['restartPolicy'] === 'OnFailure' ? spec['restartPolicy'] : 'Always';
    const logDir = join(this.opts.logDir, ns, name);
    mkdirSync(logDir, { recursive: true });
    for (const item of Array.isArray(spec['containers']) ? spec['containers'] : []) {
      if (!isRecord(item)) continue;
      const cname = String(item['name']);
      const entry: RunningContainer = { handle: undefined as unknown as ContainerHandle, state: { phase: 'waiting', restarts: 0 } };
      running.containers.set(cname, entry);
      let prepared: ReturnType<typeof prepareContainer>;
      const cwd = this.#workdir(pod, item);
      try {
        prepared = prepareContainer(withIp, item, {
          workingDir: cwd,
          stateDir: this.opts.topology.stateDir,
          images: this.opts.images,
          volumes,
          services,
          etcDir: sandbox.etcDir,
        });
      } catch (err) {
        // As the kubelet: the container stays Waiting with CreateContainerConfigError and a Failed Event. Any other
        // failure here (a subPath that cannot be made) ends the same way rather than leaving the pod half started.
        const message = err instanceof ContainerConfigError ? err.message : `failed to prepare container: ${errorMessage(err)}`;
        entry.state = { phase: 'waiting', reason: 'CreateContainerConfigError', message, restarts: 0 };
        entry.handle = notStarted(entry.state);
        this.#event(pod, 'Warning', 'Failed', `Error: ${message}`, cname);
        continue;
      }
      entry.prober = createContainerProbes({
        pod,
        container: item,
        target: {
          netns: sandbox.netns,
          podIP: sandbox.ip,
          pid: () => entry.handle.pid(),
          env: prepared.env,
          cwd,
          setpriv: prepared.setup.setpriv,
        },
        event: (type, reason, message) => this.#event(pod, type, reason, message, cname),
        onChange: () => {
          if (this.#pods.get(k) === running) this.#writeStatus(k, {});
        },
        kill: (graceMs) => entry.handle.kill(graceMs),
        log: this.opts.log,
      });
      entry.handle = startContainer({
        netns: sandbox.netns,
        name: `${ns}/${name}/${cname}`,
        command: prepared.command,
        env: prepared.env,
        setup: prepared.setup,
        cwd,
        hostPath: prepared.hostPath,
        logFile: join(logDir, `${cname}.log`),
        restartPolicy,
        log: this.opts.log,
        onState: (state: ContainerState) => {
          this.#containerEvents(pod, cname, String(item['image'] ?? ''), entry.state, state);
          containerStateToProber(entry.prober, entry.state, state);
          entry.state = state;
          if (this.#pods.get(k) === running) this.#writeStatus(k, {});
        },
      });
    }
    this.#writeStatus(k, {});
  }

  #workdir(pod: KubeObject, container: Record<string, unknown>): string {
    // A mapped image starts where its WORKDIR says (as a runtime does), not in the manifest's directory: that one may
    // not even exist in the container's mount namespace (an emptyDir over /tmp).
    const imageDir = localImageFor(container, this.opts.images)?.workingDir;
    const base = imageDir ?? pod.metadata.annotations?.[WORKDIR_ANNOTATION] ?? this.opts.defaultWorkdir;
    const wd = container['workingDir'];
    if (typeof wd === 'string' && wd !== '') return isAbsolute(wd) ? wd : resolve(base, wd);
    return base;
  }

  #volumeContext() {
    return {
      stateDir: this.opts.topology.stateDir,
      nodeName: this.opts.node.name,
      view: this.view,
      ...(this.opts.tokens && { tokens: this.opts.tokens }),
    };
  }

  /** Rewrites the pod's kubelet-written volumes (fresh tokens, current ConfigMaps and Secrets) at `atMs`. */
  #scheduleRefresh(k: string, running: RunningPod, atMs: number | undefined): void {
    clearTimeout(running.refreshTimer);
    if (atMs === undefined) return;
    running.refreshTimer = setTimeout(
      () => {
        const [ns, name] = splitKey(k);
        const pod = this.view.find('Pod', ns, name);
        if (this.#pods.get(k) !== running || pod === undefined || pod.metadata.deletionTimestamp !== undefined) return;
        let next: number | undefined = Date.now() + 10_000;
        try {
          next = setUpPodVolumes(pod, this.#volumeContext()).refreshAtMs;
        } catch (err) {
          // The old token stays valid until it expires; retry soon, as the kubelet's token manager does.
          this.opts.log.warn({ pod: k, err: errorMessage(err) }, 'volume refresh failed; will retry');
          if (err instanceof VolumeMountError) this.#event(pod, 'Warning', 'FailedMount', err.message);
        }
        this.#scheduleRefresh(k, running, next);
      },
      Math.max(0, atMs - Date.now()),
    );
    running.refreshTimer.unref();
  }

  async #teardown(k: string, running: RunningPod, graceMs: number, networkGoing = false): Promise<void> {
    for (const c of running.containers.values()) c.prober?.stop();
    clearTimeout(running.refreshTimer);
    await Promise.all([...running.containers.values()].map((c) => c.handle.stop(graceMs)));
    try {
      if (running.hostNetwork) await rm(running.sandbox.etcDir, { recursive: true, force: true });
      else await deletePodSandbox(this.opts.topology, this.opts.node, running.sandbox, this.opts.log, { networkGoing });
    } finally {
      removePodDir(this.opts.topology.stateDir, running.uid);
      this.#pods.delete(k);
      const [ns = 'default', name] = splitKey(k);
      rmSync(join(this.opts.logDir, ns, name), { recursive: true, force: true });
    }
  }

  /** Recomputes pod status from what runs; `extra` carries sandbox facts and failures. */
  #writeStatus(k: string, extra: { phase?: string; podIP?: string; reason?: string; message?: string }): KubeObject | undefined {
    const [ns, name] = splitKey(k);
    const pod = this.view.find('Pod', ns, name);
    if (pod === undefined) return undefined;
    const running = this.#pods.get(k);
    const now = nowRfc3339();
    const old = asRecord(pod['status']);
    const statuses = [...(running?.containers ?? new Map<string, RunningContainer>()).entries()].map(([cname, c]) =>
      containerStatus(cname, c.state, c.prober),
    );
    const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
    const allDone = statuses.length > 0 && statuses.every((s) => s.state['terminated'] !== undefined);
    let phase = extra.phase ?? (allReady ? 'Running' : 'Pending');
    if (extra.phase === undefined && allDone) {
      const failed = statuses.some((s) => asRecord(s.state['terminated'])['exitCode'] !== 0);
      phase = failed ? 'Failed' : 'Succeeded';
    } else if (extra.phase === undefined && statuses.some((s) => s.state['running'] !== undefined)) phase = 'Running';
    // As the kubelet words a not-ready pod (GeneratePodReadyCondition): the same reason on ContainersReady and Ready.
    const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
    const notReady =
      unready.length === 0 ? {} : { reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
    const cond = (type: string, ok: boolean, why: Record<string, string> = {}) => ({
      type,
      status: ok ? 'True' : 'False',
      lastProbeTime: null,
      lastTransitionTime: now,
      ...(ok ? {} : why),
    });
    const podIP = extra.podIP ?? old['podIP'];
    const status: Record<string, unknown> = {
      phase,
      hostIP: this.opts.node.ip,
      hostIPs: [{ ip: this.opts.node.ip }],
      startTime: running?.startedAt ?? old['startTime'] ?? now,
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', true),
        cond('ContainersReady', allReady, notReady),
        cond('Ready', allReady, notReady),
      ],
      containerStatuses: statuses,
    };
    if (typeof podIP === 'string') {
      status['podIP'] = podIP;
      status['podIPs'] = [{ ip: podIP }];
    }
    if (extra.reason !== undefined) status['reason'] = extra.reason;
    if (extra.message !== undefined) status['message'] = extra.message;
    // Keep transition times stable when a condition did not change, so status writes stay quiet.
    const oldConds = Array.isArray(old['conditions']) ? old['conditions'].filter(isRecord) : [];
    for (const c of status['conditions'] as Array<Record<string, unknown>>) {
      const prev = oldConds.find((o) => o['type'] === c['type']);
      if (prev !== undefined && prev['status'] === c['status']) c['lastTransitionTime'] = prev['lastTransitionTime'];
    }
    if (JSON.stringify(old) === JSON.stringify(status)) return pod;
    return this.view.updateStatus({ ...pod, status });
  }

  #rewriteHosts(): Promise<void> {
    const services = this.view.list('Service');
    const writes: Promise<void>[] = [];
    for (const [k, running] of this.#pods) {
      const [ns, name] = splitKey(k);
      const pod = this.view.find('Pod', ns, name);
      if (pod !== undefined) writes.push(writePodHosts(running.sandbox, hostsFor(pod, services)));
    }
    return Promise.all(writes).then(() => undefined);
  }

  /**
   * Stops every pod of this node (cluster shutdown): SIGTERM, SIGKILL after `graceMs`, then its sandbox is removed. `networkGoing`: the node's network is
   * destroyed right after (the whole cluster stops), so the sandboxes' CNI DEL is skipped.
   */
  async shutdown(graceMs: number, options: { readonly networkGoing?: boolean } = {}): Promise<void> {
    this.#unsubscribe();
    clearInterval(this.#logTimer);
    await this.#queue.stop();
    await this.#hostsQueue.stop();
    await Promise.all(
      [...this.#pods.entries()].map(([k, r]) =>
        this.#teardown(k, r, graceMs, options.networkGoing === true).catch((err: unknown) => {
          this.opts.log.warn({ pod: k, err: errorMessage(err) }, 'pod teardown failed');
        }),
      ),
    );
  }
}

function containerStatus(
  name: string,
  s: ContainerState,
  prober: ContainerProber | undefined,
): {
  name: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, unknown>;
  image: string;
  imageID: string;
} {
  let state: Record<string, unknown>;
  const message = s.message === undefined ? {} : { message: s.message };
  if (s.phase === 'running') state = { running: { startedAt: s.startedAt ?? nowRfc3339() } };
  else if (s.phase === 'terminated')
    state = { terminated: { exitCode: s.exitCode ?? -1, reason: s.reason ?? (s.exitCode === 0 ? 'Completed' : 'Error'), ...message } };
  else state = { waiting: { reason: s.reason ?? 'ContainerCreating', ...message } };
  return {
    name,
    // Without probes a running container is started and ready; with them, as its probes say.
    ready: s.phase === 'running' && (prober?.ready() ?? true),
    started: s.phase === 'running' && (prober?.started() ?? true),
    restartCount: s.restarts,
    state,
    image: 'local',
    imageID: '',
  };
}

/** The handle of a container the kubelet did not start (CreateContainerConfigError): nothing to stop. */
function notStarted(state: ContainerState): ContainerHandle {
  return { pid: () => undefined, restarts: 0, state: () => state, stop: () => Promise.resolve(), kill: () => Promise.resolve() };
}
