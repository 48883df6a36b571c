// The agent's side of ZDS (`@ambit/core/zds`, protocol.ts has the flow): a unix socket server that ztunnels connect
// to. It tells them which pods are captured and waits for their acks, which mean "listeners are up in the pod's
// namespace" (add) or "gone" (del). Several ztunnels may be connected at once: during a rolling update the new one
// (maxSurge 1) connects while the old one still serves and drains (contract 7); each gets the full snapshot and every
// later add and del, so both have listeners in every pod and the kernel can hand the pods over between them.
import { createServer, type Server, type Socket } from 'node:net';
import { AmbitError, errorMessage, type Logger } from '@ambit/core';
import { encodeZds, lineReader, parseZtunnelMessage, ZDS_VERSION, type ZdsAgentMessage, type ZdsPod } from '@ambit/core/zds';
import { listenPrivate } from './private-socket.ts';

export interface ZtunnelLinkOptions {
  readonly socketPath: string;
  /** This node's name; a ztunnel that says hello for another node is refused (it would serve the wrong pods). */
  readonly node: string;
  /** How long ztunnel has to ack one message, ms; default 8 000 (inside the CNI plugin's 10 s default). */
  readonly ackTimeoutMs?: number;
  /** How long a new connection has to say hello, ms; default 10 000. */
  readonly helloTimeoutMs?: number;
  /** The pods to replay on hello (every enrolled pod), read at the moment of the hello. */
  readonly snapshot: () => readonly ZdsPod[];
  /** Called once ztunnel acked the snapshot: pods that waited for a ztunnel can be enrolled now. */
  readonly onSynced?: () => void;
  readonly log: Logger;
}

export interface ZtunnelLink {
  /** At least one ztunnel for this node said hello and its connection is open. */
  connected(): boolean;
  /** How many ztunnels are connected (said hello); 2 during a rolling update. */
  connections(): number;
  /**
   * Sent to every connected ztunnel. Resolves once each has acked, refused, gone or timed out, and at least one acked
   * (the pod is served); otherwise rejects with the newest ztunnel's ZtunnelLinkError (not connected, disconnected,
   * refused or late). A ztunnel that failed while another took the pod is logged: it drops the pod at its next
   * snapshot, or leaves.
   */
  add(pod: ZdsPod): Promise<void>;
  del(uid: string): Promise<void>;
  close(): Promise<void>;
}

export type ZtunnelLinkErrorCode = 'ZTUNNEL_NOT_CONNECTED' | 'ZTUNNEL_DISCONNECTED' | 'ZTUNNEL_REJECTED' | 'ZTUNNEL_ACK_TIMEOUT';

export class ZtunnelLinkError extends AmbitError {
  declare readonly code: ZtunnelLinkErrorCode;

  constructor(code: ZtunnelLinkErrorCode, message: string) {
    super(code, message);
  }
}

interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: ZtunnelLinkError) => void;
  readonly timer: NodeJS.Timeout;
  readonly what: string;
}

interface Connection {
  readonly socket: Socket;
  readonly id: number;
  hello: boolean;
  readonly pending: Map<number, Pending>;
}

/** Binds the socket (fails fast: a start-up error) and serves ztunnel connections. */
export async function createZtunnelLink(opts: ZtunnelLinkOptions): Promise<ZtunnelLink> {
  const log = opts.log.child({ component: 'ztunnel-link' });
  const ackTimeoutMs = opts.ackTimeoutMs ?? 8000;
  const helloTimeoutMs = opts.helloTimeoutMs ?? 10_000;
  const connections = new Set<Connection>();
  /** Connections that said a valid hello, oldest first: the ones adds and dels go to. */
  const ztunnels = new Set<Connection>();
  let nextMsgId = 1;
  let nextConnId = 1;

  const drop = (conn: Connection, why: string): void => {
    connections.delete(conn);
    ztunnels.delete(conn);
    for (const [id, p] of conn.pending) {
      clearTimeout(p.timer);
      conn.pending.delete(id);
      p.reject(new ZtunnelLinkError('ZTUNNEL_DISCONNECTED', `ztunnel connection lost before it acked ${p.what}: ${why}`));
    }
    conn.socket.destroy();
  };

  const send = (conn: Connection, msg: ZdsAgentMessage, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.pending.delete(msg.id);
        reject(new ZtunnelLinkError('ZTUNNEL_ACK_TIMEOUT', `ztunnel did not ack ${what} within ${ackTimeoutMs} ms`));
      }, ackTimeoutMs);
      conn.pending.set(msg.id, { resolve, reject, timer, what });
      conn.socket.write(encodeZds(msg));
    });

  const request = async (build: (id: number) => ZdsAgentMessage, what: string): Promise<void> => {
    const targets = [...ztunnels];
    if (targets.length === 0) throw new ZtunnelLinkError('ZTUNNEL_NOT_CONNECTED', `ztunnel is not connected to ${opts.socketPath}`);
    // Each connection gets its own message id: acks are matched per connection, and ids stay unique per agent.
    const results = await Promise.allSettled(targets.map((conn) => send(conn, build(nextMsgId++), what)));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ conn: targets[i]?.id, err: r.reason as unknown }] : []));
    if (failures.length === results.length) {
      const newest = failures[failures.length - 1]?.err;
      throw newest instanceof ZtunnelLinkError ? newest : new ZtunnelLinkError('ZTUNNEL_REJECTED', errorMessage(newest));
    }
    if (failures.length > 0)
      log.warn({ errors: failures.map((f) => ({ conn: f.conn, err: errorMessage(f.err) })) }, `not every ztunnel took the ${what}`);
  };

  /** Replays every enrolled pod, then snapshot-sent, and reports how ztunnel took them. */
  const replay = async (conn: Connection): Promise<void> => {
    const pods = opts.snapshot();
    const results = await Promise.allSettled([
      ...pods.map((pod) => send(conn, { type: 'add', id: nextMsgId++, pod: toZdsPod(pod) }, `add of pod ${pod.namespace}/${pod.name}`)),
      send(conn, { type: 'snapshot-sent', id: nextMsgId++ }, 'snapshot-sent'),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorMessage(r.reason));
    if (failed.length > 0) log.warn({ conn: conn.id, pods: pods.length, errors: failed }, 'ztunnel did not take all of the snapshot');
    else log.info({ conn: conn.id, pods: pods.length }, 'snapshot replayed to ztunnel');
    if (ztunnels.has(conn)) opts.onSynced?.();
  };

  const onLine = (conn: Connection, line: string): void => {
    let msg;
    try {
      msg = parseZtunnelMessage(line);
    } catch (err) {
      log.warn({ conn: conn.id, err: errorMessage(err) }, 'bad ZDS message: closing the connection');
      return drop(conn, `bad message: ${errorMessage(err)}`);
    }
    if (msg.type === 'hello') {
      if (conn.hello) return drop(conn, 'second hello');
      if (msg.version !== ZDS_VERSION || msg.node !== opts.node) {
        log.error(
          { conn: conn.id, version: msg.version, node: msg.node, want: { version: ZDS_VERSION, node: opts.node } },
          'refusing ztunnel: wrong ZDS version or node',
        );
        return drop(conn, 'wrong version or node');
      }
      conn.hello = true;
      // The ztunnels already connected stay: the one that is leaving drains and disconnects by itself, and pods are
      // released only by the agent's own logic, never because a ztunnel came or went (istio-cni's ztunnelserver keeps
      // every connection too).
      ztunnels.add(conn);
      log.info({ conn: conn.id, ztunnels: ztunnels.size }, 'ztunnel connected');
      void replay(conn);
      return;
    }
    if (!conn.hello) return drop(conn, 'ack before hello');
    const p = conn.pending.get(msg.id);
    if (p === undefined) {
      log.warn({ conn: conn.id, id: msg.id }, 'ack for no pending message (late or unknown): ignored');
      return;
    }
    conn.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error === undefined) p.resolve();
    else p.reject(new ZtunnelLinkError('ZTUNNEL_REJECTED', `ztunnel refused ${p.what}: ${msg.error}`));
  };

  const server: Server = createServer((socket) => {
    const conn: Connection = { socket, id: nextConnId++, hello: false, pending: new Map() };
    connections.add(conn);
    const helloTimer = setTimeout(() => {
      if (!conn.hello) drop(conn, `no hello within ${helloTimeoutMs} ms`);
    }, helloTimeoutMs);
    socket.on(
      'data',
      lineReader(
        (line) => onLine(conn, line),
        (err) => drop(conn, err.message),
      ),
    );
    socket.on('error', (err) => log.debug({ conn: conn.id, err: err.message }, 'ztunnel socket error'));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      if (ztunnels.has(conn)) log.warn({ conn: conn.id, remaining: ztunnels.size - 1 }, 'ztunnel disconnected');
      drop(conn, 'connection closed');
    });
  });

  // Whoever connects learns every pod of the node and can fake acks: root only.
  await listenPrivate(server, opts.socketPath);
  log.info({ socket: opts.socketPath }, 'serving ztunnel');

  return {
    connected: () => ztunnels.size > 0,
    connections: () => ztunnels.size,
    add: (pod) => request((id) => ({ type: 'add', id, pod: toZdsPod(pod) }), `add of pod ${pod.namespace}/${pod.name}`),
    del: (uid) => request((id) => ({ type: 'del', id, uid }), `del of pod uid ${uid}`),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of [...connections]) drop(conn, 'agent shutting down');
      await closed;
    },
  };
}

/** Exactly the ZDS fields: the agent's own bookkeeping (sandbox id) is not ztunnel's business. */
export function toZdsPod(pod: ZdsPod): ZdsPod {
  return {
    uid: pod.uid,
    name: pod.name,
    namespace: pod.namespace,
    serviceAccount: pod.serviceAccount,
    netns: pod.netns,
    ips: [...pod.ips],
  };
}
