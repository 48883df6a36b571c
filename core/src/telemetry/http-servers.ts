import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/**
 * A small HTTP server for a proxy's own ports (15020 metrics, 15021 readiness, 15000 admin), routed by exact path.
 * They listen in the proxy's own network namespace (ztunnel: the node's; a waypoint: its pod's), never another's.
 * `listen` takes a TCP address or a unix socket path. `reusePort` (SO_REUSEPORT, default false) lets a second process
 * bind the same port, as two ztunnels on one hostNetwork node do during a rolling update.
 */
export async function startHttpServer(
  name: string,
  listen: { readonly host: string; readonly port: number; readonly reusePort?: boolean } | { readonly path: string },
  routes: Record<string, Handler>,
  log: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const route = routes[url.pathname];
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try ${Object.keys(routes).join(', ')}\n`);
      return;
    }
    Promise.resolve(route(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in listen) server.listen(listen.path, done);
    else server.listen({ port: listen.port, host: listen.host, reusePort: listen.reusePort ?? false }, done);
  });
  log.info({ server: name, address: server.address() }, `${name} listening`);
  return server;
}

export function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
