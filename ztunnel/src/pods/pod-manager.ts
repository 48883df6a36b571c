import { errorMessage, spiffeId } from '@ambit/core';
import type { ZdsPod } from '@ambit/core/zds';
import type { ProxyInputs } from '../proxy/proxy-inputs.ts';
import { startInpodPod, type InpodOptions, type InpodPod } from './inpod-pod.ts';
import type { PodRegistry } from './pod-directory.ts';

export interface PodManagerOptions extends InpodOptions {
  /** Where the served pods are kept; the same directory the listeners read as `inputs.pods`. */
  readonly registry: PodRegistry<InpodPod>;
  /** How long an add waits for the pod's first certificate before it is acknowledged anyway; default 5000 ms. */
  readonly certWaitMs?: number;
  /**
   * Settles once the controller's first config is in. An add waits for it before it takes the pod on (and so before
   * the agent lets the pod's app start), so no app starts before its ztunnel knows the mesh: its first connections
   * would fail, or go out in plaintext. Absent: no wait.
   */
  readonly firstConfig?: Promise<void>;
  /** How long an add waits for `firstConfig` before it serves the pod anyway (a controller that is away does not stop pods from starting); default 5000 ms. */
  readonly configWaitMs?: number;
}

/** Waits for `promise` at most `ms` (the timer never holds the process), calling `onTimeout` when that bound ends it. */
async function waitAtMost(promise: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms).unref();
  });
  const outcome = await Promise.race([promise.then(() => 'settled' as const), bound]);
  clearTimeout(timer);
  if (outcome === 'timeout') onTimeout();
}

/** The pods the node agent handed to this ztunnel, by Kubernetes uid (ztunnel `src/inpod/statemanager.rs`). */
export interface PodManager {
  /** Starts serving a pod (or, for a uid already held with another netns or identity, restarts it). */
  add(pod: ZdsPod): Promise<void>;
  /** Stops serving a pod: listeners closed, connections reset, namespace handle released. Unknown uids are fine. */
  del(uid: string): Promise<void>;
  /** After an agent snapshot: drops every pod not in `uids` (released while ztunnel was away). */
  retainOnly(uids: ReadonlySet<string>): Promise<void>;
  byIp(ip: string): InpodPod | undefined;
  pods(): InpodPod[];
  /** SIGTERM, first step: closes every pod's listeners (queued connections move to another ztunnel's); connections carry on. */
  stopAccepting(): Promise<void>;
  /**
   * SIGTERM: stop accepting everywhere, wait up to `graceMs` for open connections (app connections on 15001/15006 and
   * HBONE connections on 15008) to finish, then close all: what is still open at the deadline is reset.
   */
  drain(graceMs: number): Promise<void>;
}

function samePod(a: ZdsPod, b: ZdsPod): boolean {
  return a.netns === b.netns && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount && a.ips.join() === b.ips.join();
}

export function createPodManager(inputs: ProxyInputs, options: PodManagerOptions): PodManager {
  const log = inputs.log.child({ component: 'pods' });
  const { certs } = inputs;
  const { registry } = options;
  const certWaitMs = options.certWaitMs ?? 5000;
  const configWaitMs = options.configWaitMs ?? 5000;
  // Adds and deletes of one uid run in order; different pods proceed in parallel.
  const chains = new Map<string, Promise<void>>();

  function serial(uid: string, work: () => Promise<void>): Promise<void> {
    const prev = chains.get(uid) ?? Promise.resolve();
    const next = prev.then(work, work);
    const settled = next.catch(() => {});
    chains.set(uid, settled);
    void settled.then(() => {
      if (chains.get(uid) === settled) chains.delete(uid);
    });
    return next;
  }

  async function remove(uid: string): Promise<void> {
    const pod = registry.byUid(uid);
    if (pod === undefined) return;
    registry.remove(pod);
    await pod.close();
    if (!registry.pods().some((p) => p.identity === pod.identity)) certs.untrack(pod.identity);
    log.info({ pod: `${pod.info.namespace}/${pod.info.name}`, uid }, 'pod released');
  }

  return {
    add: (info) =>
      serial(info.uid, async () => {
        if (options.firstConfig !== undefined) {
          await waitAtMost(options.firstConfig, configWaitMs, () =>
            log.warn(
              { pod: `${info.namespace}/${info.name}`, waitedMs: configWaitMs },
              'no config from the controller yet; serving the pod without it',
            ),
          );
        }
        const cur = registry.byUid(info.uid);
        if (cur !== undefined && samePod(cur.info, info)) return;
        if (cur !== undefined) await remove(info.uid);
        // The certificate before the listeners (bounded): once bound, the kernel hands this ztunnel a share of the
        // pod's new connections at once — during a rolling update, while the old ztunnel still serves — and inbound
        // HBONE needs the certificate to answer them.
        const identity = spiffeId(inputs.config.trustDomain, info.namespace, info.serviceAccount);
        certs.track(identity);
        await waitAtMost(
          certs.certFor(identity).catch((err: unknown) => log.warn({ identity, err: errorMessage(err) }, 'no certificate yet')),
          certWaitMs,
          () => undefined,
        );
        let pod: InpodPod;
        try {
          pod = startInpodPod(info, inputs, options);
        } catch (err) {
          if (!registry.pods().some((p) => p.identity === identity)) certs.untrack(identity);
          throw err;
        }
        registry.put(pod);
        log.info({ pod: `${info.namespace}/${info.name}`, uid: info.uid, netns: info.netns, ips: info.ips }, 'pod captured');
      }),
    del: (uid) => serial(uid, () => remove(uid)),
    async retainOnly(uids) {
      const gone = registry.pods().filter((p) => !uids.has(p.info.uid));
      await Promise.all(gone.map((p) => serial(p.info.uid, () => remove(p.info.uid))));
    },
    byIp: (ip) => registry.byIp(ip),
    pods: () => registry.pods(),
    async stopAccepting() {
      await Promise.all(registry.pods().map((p) => p.stopAccepting()));
    },
    async drain(graceMs) {
      const all = registry.pods();
      await Promise.all(all.map((p) => p.stopAccepting()));
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && all.some((p) => p.openConnections() > 0)) await new Promise((r) => setTimeout(r, 50));
      await Promise.all(registry.pods().map((p) => serial(p.info.uid, () => remove(p.info.uid))));
    },
  };
}
