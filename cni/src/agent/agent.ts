// The node agent's wiring (STYLE rule 2: main.ts reads flags, this wires): state, the ztunnel link, the informer
// caches of Namespaces and this node's Pods, the CNI server and label-driven enrolment, sharing one per-pod lock.
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '@ambit/core';
import { KubeClient, watchedKind } from '@ambit/core/kube';
import type { BackoffOptions, Clock } from '@ambit/core/xds';
import { AgentState } from './agent-state.ts';
import { startCniServer } from './cni-server.ts';
import { startEnrolment } from './enrolment.ts';
import { KeyedSerializer } from './keyed-serializer.ts';
import { startKubeCache } from './kube-cache.ts';
import { DEFAULT_EXCLUDE_NAMESPACES, parseNamespace, parsePod } from './kube-objects.ts';
import { createPodEnroller } from './pod-enroller.ts';
import { createPodLookup } from './pod-lookup.ts';
import { createZtunnelLink } from './ztunnel-link.ts';

export interface AgentOptions {
  /** This node's name: pods are watched with `spec.nodeName=<node>`, and ztunnel's hello must name it. */
  readonly node: string;
  /**
   * The API server and credentials (client-node: a kubeconfig file, or in-cluster from the pod's service account).
   * Read: GET of a pod and a namespace, list + watch of namespaces and of this node's pods.
   */
  readonly kubeConfig: KubeConfig;
  /** Unix socket the CNI plugin calls (its `agentSocket`); created with mode 0600, a stale socket file is replaced. */
  readonly cniSocket: string;
  /** Unix socket served for ztunnel (ZDS); mode 0600. */
  readonly ztunnelSocket: string;
  /** JSON file of enrolled pods; written atomically with mode 0600, its directory created. */
  readonly stateFile: string;
  readonly log: Logger;
  /** Namespaces never captured; default `kube-system`, `ambit-system`. */
  readonly excludeNamespaces?: readonly string[];
  /** How long ztunnel has to ack an add/del, ms; default 8 000. */
  readonly ztunnelAckTimeoutMs?: number;
  /** Bound on each direct API read (CNI ADD look-ups the caches cannot answer, release confirmations), ms; default 3 000. */
  readonly apiTimeoutMs?: number;
  /**
   * Backoff of pods that could not be enrolled (default ~100 ms doubling to 10 s) and of watch restarts after an
   * error (default the informer's, 200 ms doubling to 10 s).
   */
  readonly backoff?: BackoffOptions;
  /** Finds a running pod's network namespace from its IP; default `findNetnsByIp` (scans /proc and /run/netns). */
  readonly findNetns?: (ip: string) => Promise<string | undefined>;
  readonly clock?: Clock;
}

export interface Agent {
  /** The label-driven side has complete caches (first lists done). */
  synced(): boolean;
  /** Whether a ztunnel is connected. */
  ztunnelConnected(): boolean;
  /**
   * Stops serving and watching; capture rules stay in the pods (they must survive an agent restart). With
   * `releasePods` (Ambit is being uninstalled from the node) every enrolled pod is released first, once no new work can
   * start: its rules removed, ztunnel told, the state emptied; the pods keep running and talk in plaintext.
   */
  close(opts?: { readonly releasePods?: boolean }): Promise<void>;
}

/** Loads the state and binds both sockets before returning: a bind or state error is a start-up error. */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const log = opts.log.child({ node: opts.node });
  const excludeNamespaces = opts.excludeNamespaces ?? DEFAULT_EXCLUDE_NAMESPACES;
  const state = await AgentState.load(opts.stateFile, log);
  const locks = new KeyedSerializer();
  // The enrolment starts after the link (it needs `connected()`); ztunnel's sync callback reaches it through this.
  let reconcileAll = (): void => undefined;
  const ztunnel = await createZtunnelLink({
    socketPath: opts.ztunnelSocket,
    node: opts.node,
    snapshot: () => state.all(),
    onSynced: () => reconcileAll(),
    log,
    ...(opts.ztunnelAckTimeoutMs === undefined ? {} : { ackTimeoutMs: opts.ztunnelAckTimeoutMs }),
  });
  const enroller = createPodEnroller({ state, ztunnel, log });
  const client = new KubeClient(opts.kubeConfig);
  const cacheCommon = { kc: opts.kubeConfig, client, log, ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }) };
  const namespaces = startKubeCache({
    ...cacheCommon,
    kind: watchedKind('v1', 'Namespace', 'namespaces'),
    parse: parseNamespace,
    keyOf: (ns) => ns.name,
  });
  const pods = startKubeCache({
    ...cacheCommon,
    kind: watchedKind('v1', 'Pod', 'pods', `spec.nodeName=${opts.node}`),
    parse: parsePod,
    keyOf: (pod) => pod.uid,
  });
  const stopCaches = (): Promise<unknown> => Promise.all([pods.stop(), namespaces.stop()]);
  const lookup = createPodLookup({
    client,
    pods,
    namespaces,
    ...(opts.apiTimeoutMs === undefined ? {} : { timeoutMs: opts.apiTimeoutMs }),
  });
  const enrolment = startEnrolment({
    pods,
    namespaces,
    lookup,
    excludeNamespaces,
    state,
    enroller,
    locks,
    ztunnel,
    log,
    ...(opts.findNetns === undefined ? {} : { findNetns: opts.findNetns }),
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
  });
  reconcileAll = () => enrolment.reconcileAll();
  let cni;
  try {
    cni = await startCniServer({ socketPath: opts.cniSocket, lookup, excludeNamespaces, state, enroller, locks, log });
  } catch (err) {
    await enrolment.close();
    await stopCaches();
    await ztunnel.close();
    throw err;
  }
  log.info({ pods: state.all().length, stateFile: opts.stateFile, api: opts.kubeConfig.getCurrentCluster()?.server }, 'node agent started');

  // Each pod under its lock, so a CNI ADD or reconcile still finishing for it completes first; one failure does not
  // keep the other pods captured.
  const releaseAll = async (): Promise<void> => {
    const pods = state.all();
    for (const pod of pods) {
      await locks
        .run(pod.uid, () => enroller.release(pod, { removeRules: true }))
        .catch((err: unknown) => log.error({ pod: `${pod.namespace}/${pod.name}`, err: errorMessage(err) }, 'could not release pod'));
    }
    log.info({ pods: pods.length }, 'released every captured pod');
  };

  let closing: Promise<void> | undefined;
  return {
    synced: () => enrolment.synced(),
    ztunnelConnected: () => ztunnel.connected(),
    close(closeOpts) {
      closing ??= (async () => {
        // CNI first: no new work may start while the rest shuts down.
        await cni.close();
        await enrolment.close();
        if (closeOpts?.releasePods === true) await releaseAll();
        await stopCaches();
        await ztunnel.close();
        await state.save().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not persist state at shutdown'));
        log.info('node agent stopped');
      })();
      return closing;
    },
  };
}
