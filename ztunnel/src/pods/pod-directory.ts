import { unmapIp } from '@ambit/core/hbone';
import type { ZdsPod } from '@ambit/core/zds';

/** What the data path and the admin read of a captured pod. */
export interface CapturedPod {
  readonly info: ZdsPod;
  /** The pod's SPIFFE ID: the certificate its listeners present. */
  readonly identity: string;
  /** The handle on the pod's network namespace, where its upstream sockets are made. */
  readonly netnsFd: number;
}

/**
 * The captured pods, read at request or scrape time (inbound HBONE picks the certificate and namespace of the pod
 * whose address was dialled; health metrics, mesh roots and the config dump list them). Read-only: only the pod
 * manager changes it.
 */
export interface PodDirectory {
  byIp(ip: string): CapturedPod | undefined;
  pods(): CapturedPod[];
}

/** The pod manager's side of the directory. */
export interface PodRegistry<P extends CapturedPod> extends PodDirectory {
  byIp(ip: string): P | undefined;
  pods(): P[];
  byUid(uid: string): P | undefined;
  /** Indexes the pod by uid and by each of its addresses (a pod added later takes over an address it shares). */
  put(pod: P): void;
  /** Drops the pod from both indexes; an address another pod has taken over stays with that pod. */
  remove(pod: P): void;
}

/**
 * The pods by uid and by address, as plain data. It exists before the listeners and the pod manager, which is what
 * lets the inbound HBONE server (built before any pod) and the pod manager (which hands every pod's 15008 connections
 * to that server) both be created once, in order, with no holder filled in afterwards: the server reads this
 * directory when a connection arrives, the pod manager fills it as the node agent adds and removes pods.
 */
export function createPodRegistry<P extends CapturedPod>(): PodRegistry<P> {
  const byUid = new Map<string, P>();
  const byIp = new Map<string, P>();
  return {
    byIp: (ip) => byIp.get(unmapIp(ip)),
    pods: () => [...byUid.values()],
    byUid: (uid) => byUid.get(uid),
    put(pod) {
      byUid.set(pod.info.uid, pod);
      for (const ip of pod.info.ips) byIp.set(unmapIp(ip), pod);
    },
    remove(pod) {
      if (byUid.get(pod.info.uid) === pod) byUid.delete(pod.info.uid);
      for (const ip of pod.info.ips) if (byIp.get(unmapIp(ip)) === pod) byIp.delete(unmapIp(ip));
    },
  };
}
