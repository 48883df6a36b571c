import { errorMessage } from '@ambit/core';
import { unmapIp } from '@ambit/core/hbone';
import type { ZdsPod } from '@ambit/core/zds';
import type { CertManager } from '../identity/index.ts';
import { startInpodPod, type InpodDeps, type InpodPod } from './inpod-pod.ts';

export interface PodManagerOptions extends Omit<InpodDeps, 'certFor'> {
  readonly certs: CertManager;
  /** How long an add waits for the pod's first certificate before it is acknowledged anyway; default 5000 ms. */
  readonly certWaitMs?: number;
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
  /** SIGTERM: stop accepting everywhere, wait up to `graceMs` for open client connections, then close all. */
  drain(graceMs: number): Promise<void>;
}

function samePod(a: ZdsPod, b: ZdsPod): boolean {
  return a.netns === b.netns && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount && a.ips.join() === b.ips.join();
}

export function createPodManager(options: PodManagerOptions): PodManager {
  const log = options.log.child({ component: 'pods' });
  const pods = new Map<string, InpodPod>();
  const byIp = new Map<string, InpodPod>();
  const certWaitMs = options.certWaitMs ?? 5000;
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

  function identityInUse(identity: string): boolean {
    for (const p of pods.values()) if (p.identity === identity) return true;
    return false;
  }

  async function remove(uid: string): Promise<void> {
    const pod = pods.get(uid);
    if (pod === undefined) return;
    pods.delete(uid);
    for (const ip of pod.info.ips) if (byIp.get(unmapIp(ip)) === pod) byIp.delete(unmapIp(ip));
    await pod.close();
    if (!identityInUse(pod.identity)) options.certs.untrack(pod.identity);
    log.info({ pod: `${pod.info.namespace}/${pod.info.name}`, uid }, 'pod released');
  }

  return {
    add: (info) =>
      serial(info.uid, async () => {
        const cur = pods.get(info.uid);
        if (cur !== undefined && samePod(cur.info, info)) return;
        if (cur !== undefined) await remove(info.uid);
        const pod = startInpodPod(info, { ...options, certFor: (id) => options.certs.certFor(id) });
        pods.set(info.uid, pod);
        for (const ip of info.ips) byIp.set(unmapIp(ip), pod);
        options.certs.track(pod.identity);
        // Inbound HBONE needs the pod's certificate: wait for it (bounded) so the pod's first connections work.
        await Promise.race([
          options.certs.certFor(pod.identity).catch((err: unknown) => log.warn({ identity: pod.identity, err: errorMessage(err) }, 'no certificate yet')),
          new Promise((resolve) => setTimeout(resolve, certWaitMs).unref()),
        ]);
        log.info({ pod: `${info.namespace}/${info.name}`, uid: info.uid, netns: info.netns, ips: info.ips }, 'pod captured');
      }),
    del: (uid) => serial(uid, () => remove(uid)),
    async retainOnly(uids) {
      await Promise.all([...pods.keys()].filter((uid) => !uids.has(uid)).map((uid) => serial(uid, () => remove(uid))));
    },
    byIp: (ip) => byIp.get(unmapIp(ip)),
    pods: () => [...pods.values()],
    async drain(graceMs) {
      const all = [...pods.values()];
      await Promise.all(all.map((p) => p.stopAccepting()));
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && all.some((p) => p.openConnections() > 0)) await new Promise((r) => setTimeout(r, 50));
      await Promise.all([...pods.keys()].map((uid) => serial(uid, () => remove(uid))));
    },
  };
}
