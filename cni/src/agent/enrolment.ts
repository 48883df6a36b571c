// Label-driven enrolment (DESIGN §4): pods that are already running join the mesh when they or their namespace get
// `istio.io/dataplane-mode=ambient`, and leave when they lose it. Follows the Namespace cache and this node's Pod
// cache (informers, kube-cache.ts), and reconciles one pod at a time under its lock, so it never races the CNI path
// for the same pod.
import { errorMessage, type Logger } from '@ambit/core';
import { createBackoff, systemClock, type BackoffOptions, type Clock, type ClockTimer } from '@ambit/core/xds';
import type { AgentState, EnrolledPod } from './agent-state.ts';
import type { KeyedSerializer } from './keyed-serializer.ts';
import type { KubeCache } from './kube-cache.ts';
import { podIsRunning, podWantsCapture, type NamespaceInfo, type PodInfo } from './kube-objects.ts';
import { findNetnsByIp } from './netns-finder.ts';
import { netnsExists, type PodEnroller } from './pod-enroller.ts';
import { PodLookupError, type PodLookup } from './pod-lookup.ts';
import type { ZtunnelLink } from './ztunnel-link.ts';

export interface EnrolmentOptions {
  /** This node's pods, by uid (field selector `spec.nodeName=<node>`). */
  readonly pods: KubeCache<PodInfo>;
  /** Namespaces, by name. */
  readonly namespaces: KubeCache<NamespaceInfo>;
  /** Direct reads, to confirm a release. */
  readonly lookup: PodLookup;
  readonly excludeNamespaces: readonly string[];
  readonly state: AgentState;
  readonly enroller: PodEnroller;
  readonly locks: KeyedSerializer;
  readonly ztunnel: Pick<ZtunnelLink, 'connected'>;
  readonly log: Logger;
  /** Finds a running pod's namespace from its IP; default `findNetnsByIp`. */
  readonly findNetns?: (ip: string) => Promise<string | undefined>;
  /** Retry backoff of a pod that could not be enrolled; default ~100 ms doubling to 10 s. */
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
}

export interface Enrolment {
  /** Both caches are complete (first lists done). */
  synced(): boolean;
  /** Re-examines every pod the node runs or the state holds (after ztunnel (re)connects, for instance). */
  reconcileAll(): void;
  close(): Promise<void>;
}

export function startEnrolment(opts: EnrolmentOptions): Enrolment {
  const log = opts.log.child({ component: 'enrolment' });
  const { pods, namespaces } = opts;
  const clock = opts.clock ?? systemClock;
  const backoff = createBackoff(opts.backoff);
  const findNetns = opts.findNetns ?? ((ip: string) => findNetnsByIp(ip));
  const queued = new Set<string>();
  const retries = new Map<string, { failures: number; timer: ClockTimer | undefined }>();
  let closed = false;
  let pruned = false;

  const enqueue = (uid: string): void => {
    if (closed || queued.has(uid)) return;
    queued.add(uid);
    void opts.locks.run(uid, async () => {
      queued.delete(uid);
      if (closed) return;
      try {
        await reconcile(uid);
      } catch (err) {
        log.error({ uid, err: errorMessage(err) }, 'BUG: reconcile threw');
      }
    });
  };

  /** Tries the pod again later, with backoff per pod; any later success or no-op resets it. */
  const retryLater = (uid: string, why: string): void => {
    const r = retries.get(uid) ?? { failures: 0, timer: undefined };
    if (r.timer !== undefined) clock.clearTimeout(r.timer);
    const delayMs = backoff.delayMs(++r.failures);
    r.timer = clock.setTimeout(() => {
      r.timer = undefined;
      enqueue(uid);
    }, delayMs);
    retries.set(uid, r);
    log.info({ uid, why, delayMs }, 'pod not reconciled: retrying later');
  };

  const settled = (uid: string): void => {
    const r = retries.get(uid);
    if (r?.timer !== undefined) clock.clearTimeout(r.timer);
    retries.delete(uid);
  };

  const enrolRunning = async (pod: PodInfo): Promise<void> => {
    const what = `pod ${pod.namespace}/${pod.name}`;
    // Without a ztunnel the pod would be captured into nothing; ztunnel's hello triggers a reconcileAll.
    if (!opts.ztunnel.connected()) return settled(pod.uid);
    let netns: string | undefined;
    try {
      for (const ip of pod.ips) {
        netns = await findNetns(ip);
        if (netns !== undefined) break;
      }
    } catch (err) {
      return retryLater(pod.uid, `${what}: finding its network namespace: ${errorMessage(err)}`);
    }
    if (netns === undefined) return retryLater(pod.uid, `${what}: no network namespace on this node holds ${pod.ips.join(', ')}`);
    try {
      await opts.enroller.enrol({
        uid: pod.uid,
        name: pod.name,
        namespace: pod.namespace,
        serviceAccount: pod.serviceAccount,
        netns,
        ips: pod.ips,
      });
      settled(pod.uid);
    } catch (err) {
      retryLater(pod.uid, errorMessage(err));
    }
  };

  /**
   * The watch cache may lag an API write the CNI path already saw (a pod created in a just-labelled namespace), so a
   * release is confirmed with a direct read first. Answers whether the pod, as the API has it now, is still wanted:
   * `gone` (no such pod or another uid), `wanted`, `unwanted`, or undefined when the API could not be read.
   */
  const confirm = async (enrolled: EnrolledPod): Promise<'gone' | 'wanted' | 'unwanted' | undefined> => {
    try {
      const { pod, namespace } = await opts.lookup.read(enrolled.namespace, enrolled.name);
      if (pod.uid !== enrolled.uid) return 'gone';
      return podWantsCapture(pod, namespace, opts.excludeNamespaces) ? 'wanted' : 'unwanted';
    } catch (err) {
      if (err instanceof PodLookupError && err.notFound) return 'gone';
      log.warn({ pod: `${enrolled.namespace}/${enrolled.name}`, err: errorMessage(err) }, 'cannot confirm a release with the API');
      return undefined;
    }
  };

  const release = async (enrolled: EnrolledPod, removeRules: boolean, why: string): Promise<void> => {
    try {
      await opts.enroller.release(enrolled, { removeRules });
      log.info({ pod: `${enrolled.namespace}/${enrolled.name}`, why }, 'pod left the mesh');
      settled(enrolled.uid);
    } catch (err) {
      retryLater(enrolled.uid, errorMessage(err));
    }
  };

  const reconcile = async (uid: string): Promise<void> => {
    if (!pods.synced() || !namespaces.synced()) return;
    const pod = pods.get(uid);
    const enrolled = opts.state.get(uid);
    if (pod === undefined) {
      if (enrolled === undefined) return settled(uid);
      const now = await confirm(enrolled);
      if (now === undefined) return retryLater(uid, 'pod missing from the watch, API unreadable');
      if (now !== 'gone') return settled(uid); // The watch has not caught up yet; its event will bring us back.
      // Its namespace goes with the sandbox; the rules go with it (and the path may name another namespace by now).
      return release(enrolled, false, 'pod deleted');
    }
    const wanted = podWantsCapture(pod, namespaces.get(pod.namespace), opts.excludeNamespaces);
    if (enrolled !== undefined && !wanted) {
      const now = await confirm(enrolled);
      if (now === undefined) return retryLater(uid, 'API unreadable');
      if (now === 'wanted') return settled(uid);
      return release(enrolled, now === 'unwanted', now === 'gone' ? 'pod deleted' : 'no longer ambient');
    }
    if (enrolled === undefined && wanted && podIsRunning(pod)) return enrolRunning(pod);
    settled(uid);
  };

  const reconcileAll = (): void => {
    if (!pods.synced() || !namespaces.synced()) return;
    for (const uid of new Set([...pods.values().map((p) => p.uid), ...opts.state.all().map((p) => p.uid)])) enqueue(uid);
  };

  /**
   * Once, after the first lists: entries whose namespace file is gone are dropped at once (the pod's sandbox died
   * while the agent was away); the rest are reconciled like any pod, which drops those whose pod is gone.
   */
  const prune = async (): Promise<void> => {
    for (const enrolled of opts.state.all()) {
      if (await netnsExists(enrolled.netns)) continue;
      await opts.locks.run(enrolled.uid, async () => {
        const current = opts.state.get(enrolled.uid);
        if (current !== undefined && !(await netnsExists(current.netns))) await release(current, false, 'network namespace gone');
      });
    }
    reconcileAll();
  };

  const onSynced = (): void => {
    if (!pods.synced() || !namespaces.synced()) return;
    if (!pruned) {
      pruned = true;
      log.info({ pods: pods.values().length, namespaces: namespaces.values().length }, 'pod and namespace caches synced');
      void prune();
      return;
    }
    reconcileAll();
  };

  const unsubscribe = [
    namespaces.subscribe({
      onSynced,
      onChange: (name) => {
        if (!pods.synced()) return;
        for (const pod of pods.values()) if (pod.namespace === name) enqueue(pod.uid);
      },
    }),
    pods.subscribe({
      onSynced,
      onChange: (uid) => {
        if (namespaces.synced()) enqueue(uid);
      },
    }),
  ];
  // Caches synced before this subscribed (never in the agent, which starts both together) still get their first pass.
  onSynced();

  return {
    synced: () => pods.synced() && namespaces.synced(),
    reconcileAll,
    /** Stops reconciling and waits for work in flight; the caches are their owner's to stop. */
    async close() {
      closed = true;
      for (const off of unsubscribe) off();
      for (const r of retries.values()) if (r.timer !== undefined) clock.clearTimeout(r.timer);
      retries.clear();
      await opts.locks.idle();
    },
  };
}
