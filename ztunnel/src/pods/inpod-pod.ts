import type { Server, Socket } from 'node:net';
import { errorMessage, spiffeId } from '@ambit/core';
import { createHbonePool, type HbonePool, type HboneServer } from '@ambit/core/hbone';
import type { ZdsPod } from '@ambit/core/zds';
import { closeFd, listenInNetns, openNetns, unconnectedSocketInNetns } from '../native/index.ts';
import { handleInboundPlaintext } from '../proxy/inbound-plaintext.ts';
import { handleOutbound } from '../proxy/outbound.ts';
import { INBOUND_HBONE_PORT, INBOUND_PLAINTEXT_PORT, INPOD_MARK, OUTBOUND_PORT } from '../proxy/ports.ts';
import type { ProxyInputs } from '../proxy/proxy-inputs.ts';
import type { CapturedPod } from './pod-directory.ts';

/** What a pod's listeners need beyond the shared inputs. */
export interface InpodOptions {
  /** The inbound HBONE server that every pod's 15008 connections are handed to. */
  readonly hbone: HboneServer;
  /** Idle time before the pod's HBONE pool closes a connection (the pool's default when absent). */
  readonly poolIdleTimeoutMs?: number;
}

/** One captured pod as ztunnel serves it: its namespace handle, its three listeners, its HBONE pool. */
export interface InpodPod extends CapturedPod {
  readonly pool: HbonePool;
  /** Connections accepted on 15001/15006 and HBONE connections accepted on 15008 that are still open. */
  openConnections(): number;
  /**
   * Closes the listeners; open connections carry on. The kernel moves connections still queued on them to another
   * ztunnel's listener of the same SO_REUSEPORT group (with tcp_migrate_req), or resets them when there is none.
   */
  stopAccepting(): Promise<void>;
  /** Closes listeners, resets open connections, closes the pool, releases the namespace handle. */
  close(): Promise<void>;
}

/**
 * Opens the pod's namespace and binds 15001, 15006 and 15008 inside it (DESIGN §4), with SO_REUSEPORT: during a
 * rolling update the new ztunnel binds them while the old one still listens, the kernel spreads new connections over
 * both, and when the old one closes its listeners the connections queued on them move to the new one's (the node
 * agent sets `net.ipv4.tcp_migrate_req=1` in the pod; contract 7). Both processes run as the same user, which
 * SO_REUSEPORT requires. Throws (and releases what it
 * took) when the namespace cannot be opened or a port is taken, so the agent's add fails with the reason.
 */
export function startInpodPod(info: ZdsPod, shared: ProxyInputs, options: InpodOptions): InpodPod {
  const identity = spiffeId(shared.config.trustDomain, info.namespace, info.serviceAccount);
  const log = shared.log.child({ pod: `${info.namespace}/${info.name}` });
  // The pod's listeners get the shared inputs with the pod's logger (Istio's ztunnel derives a ProxyInputs per pod).
  const inputs: ProxyInputs = { ...shared, log };
  const netnsFd = openNetns(info.netns);
  const servers: Server[] = [];
  const clients = new Set<Socket>();
  /** Accepted HBONE connections (the HBONE server owns them; a released pod's are cut). */
  const tunnels = new Set<Socket>();
  let pool: HbonePool | undefined;
  try {
    pool = createHbonePool({
      log,
      certFor: (id) => inputs.certs.certFor(id),
      roots: inputs.roots,
      // The socket is created in the pod's namespace with the ztunnel mark; the pool connects it in the same tick.
      connect: (nextHop) => unconnectedSocketInNetns(netnsFd, nextHop.host, INPOD_MARK),
      ...(options.poolIdleTimeoutMs !== undefined && { idleTimeoutMs: options.poolIdleTimeoutMs }),
    });
    const track = (s: Socket): void => {
      clients.add(s);
      s.on('close', () => clients.delete(s));
    };
    const self: InpodPodView = { netnsFd, identity, name: info.name, namespace: info.namespace, ips: info.ips, uid: info.uid, pool };
    const outbound = listenInNetns(netnsFd, { port: OUTBOUND_PORT, mark: INPOD_MARK, reusePort: true });
    servers.push(outbound);
    outbound.on('connection', (s: Socket) => {
      track(s);
      handleOutbound(s, self, inputs);
    });
    const plaintext = listenInNetns(netnsFd, { port: INBOUND_PLAINTEXT_PORT, mark: INPOD_MARK, reusePort: true });
    servers.push(plaintext);
    plaintext.on('connection', (s: Socket) => {
      track(s);
      handleInboundPlaintext(s, self, inputs);
    });
    const hbone = listenInNetns(netnsFd, { port: INBOUND_HBONE_PORT, mark: INPOD_MARK, reusePort: true });
    servers.push(hbone);
    hbone.on('connection', (s: Socket) => {
      tunnels.add(s);
      s.on('close', () => tunnels.delete(s));
      options.hbone.handle(s);
    });
    for (const srv of servers) srv.on('error', (err) => log.warn({ err: errorMessage(err) }, 'in-pod listener error'));
  } catch (err) {
    for (const srv of servers) srv.close();
    void pool?.close();
    closeFd(netnsFd);
    throw err;
  }
  const thePool = pool;
  let fdOpen = true;
  // server.close() releases the listening socket at once; its callback would wait for every accepted connection.
  const stopAccepting = async (): Promise<void> => {
    for (const srv of servers) if (srv.listening) srv.close();
  };
  return {
    info,
    identity,
    netnsFd,
    pool: thePool,
    openConnections: () => clients.size + tunnels.size,
    stopAccepting,
    async close() {
      const stopped = stopAccepting();
      for (const s of clients) s.resetAndDestroy();
      for (const s of tunnels) s.destroy();
      await Promise.all([stopped, thePool.close()]);
      if (fdOpen) {
        fdOpen = false;
        closeFd(netnsFd);
      }
    },
  };
}

interface InpodPodView {
  readonly netnsFd: number;
  readonly identity: string;
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly ips: readonly string[];
  readonly pool: HbonePool;
}
