import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@ambit/core';
import { AmbitError, errorMessage } from '@ambit/core';

export interface DebugSources {
  /** `{ workloads, services, authorizations, l7Authorizations }` (the last: what waypoints enforce). */
  readonly model: () => unknown;
  /** Subscribed proxies and their ACKed versions. */
  readonly connections: () => unknown;
  /** Prometheus text exposition. */
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** Ready once every informer has synced and the CA is loaded. */
  readonly ready: () => boolean;
}

export interface DebugServerOptions {
  /** Unix socket (local mode); mode 0600. */
  readonly socketPath?: string;
  /** TCP port; 0 picks one. */
  readonly port?: number;
  /**
   * Address of the TCP listener; default 127.0.0.1 (debug data is not for the network). A pod sets its own
   * addresses (`0.0.0.0`) so the kubelet's httpGet readiness probe and the API server's service proxy reach /ready
   * and /debug, as istiod serves 15014.
   */
  readonly host?: string;
  readonly log: Logger;
}

export interface DebugServer {
  /** `http://127.0.0.1:PORT` when listening on TCP. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

/** The controller's debug and metrics endpoints, off the data path: /debug/model, /debug/connections, /metrics, /ready. */
export async function startDebugServer(sources: DebugSources, opts: DebugServerOptions): Promise<DebugServer> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void respond(sources, req, res).catch((err: unknown) => {
      opts.log.warn({ path: req.url, err: errorMessage(err) }, 'debug request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${errorMessage(err)}\n`);
    });
  };
  const servers: Server[] = [];
  let url: string | undefined;
  if (opts.socketPath !== undefined) {
    rmSync(opts.socketPath, { force: true });
    const s = createServer(handler);
    await listen(s, { path: opts.socketPath });
    chmodSync(opts.socketPath, 0o600);
    servers.push(s);
  }
  if (opts.port !== undefined) {
    const s = createServer(handler);
    const host = opts.host ?? '127.0.0.1';
    await listen(s, { port: opts.port, host });
    url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${(s.address() as AddressInfo).port}`;
    servers.push(s);
  }
  if (servers.length === 0) throw new AmbitError('BAD_CONFIG', 'debug server needs a socket path or a port');
  return {
    url,
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

async function respond(sources: DebugSources, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://debug').pathname;
  if (req.method !== 'GET') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' });
    res.end('only GET\n');
    return;
  }
  switch (path) {
    case '/debug/model':
      return json(res, sources.model());
    case '/debug/connections':
      return json(res, sources.connections());
    case '/metrics': {
      const text = await sources.metrics();
      res.writeHead(200, { 'content-type': sources.metricsContentType });
      res.end(text);
      return;
    }
    case '/ready': {
      const ok = sources.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /debug/model, /debug/connections, /metrics, /ready\n');
  }
}

function json(res: ServerResponse, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function listen(server: Server, target: { path: string } | { port: number; host: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
