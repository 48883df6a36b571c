// A TCP listener whose every connection is joined, byte for byte, to a new connection to a unix socket. The local
// runner runs one inside each node's network namespace (node-api-forwarder.ts) so that the node's processes reach the
// API server at 127.0.0.1:PORT of their own namespace, as a node reaches its API server over the network; the API's
// TLS and token pass through untouched. Only node: imports, so the program starts with plain `node` (no tsx).
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ForwarderOptions {
  /** Address to listen on, e.g. 127.0.0.1 (the node's own loopback: nothing outside the namespace reaches it). */
  readonly host: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Unix socket each accepted connection is joined to. */
  readonly socketPath: string;
}

export interface Forwarder {
  /** The port actually bound. */
  readonly port: number;
  /** Connections currently joined. */
  connections(): number;
  /** Stops listening and closes every joined connection. */
  close(): Promise<void>;
}

/**
 * Binds before returning (a taken port is a start-up error). Each side's end is passed on as a half-close, so a
 * request/response protocol that shuts down its sending side still gets its answer; an error on either side (a
 * reset, the unix socket refusing) destroys both.
 */
export async function startForwarder(opts: ForwarderOptions): Promise<Forwarder> {
  const open = new Set<readonly [Socket, Socket]>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ path: opts.socketPath, allowHalfOpen: true });
    const pair = [client, upstream] as const;
    open.add(pair);
    let closed = 0;
    for (const s of pair) {
      // A reset or a refused unix socket ends the whole connection; a clean end travels on through pipe().
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      // Not destroying the other side here: it may still be flushing the last bytes it was handed.
      s.on('close', () => {
        if (++closed === 2) open.delete(pair);
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => open.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const pair of open) for (const s of pair) s.destroy();
      await closed;
    },
  };
}
