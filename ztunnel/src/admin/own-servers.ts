import type { Server } from 'node:http';
import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import type { Registry } from 'prom-client';
import { startHttpServer, type Handler } from '@ambit/core/telemetry';

export interface OwnServerOptions {
  readonly metricsListen?: { readonly host: string; readonly port: number };
  readonly readinessListen?: { readonly host: string; readonly port: number };
  readonly adminListen?: { readonly host: string; readonly port: number };
  readonly onQuit?: () => void;
}

export interface OwnServerDeps {
  readonly registry: Registry;
  /** What keeps ztunnel from being ready (empty when ready). */
  readonly pending: () => string[];
  readonly dump: () => Record<string, unknown>;
  /** The root logger: `/logging` reads and sets its level. */
  readonly log: Logger;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * ztunnel's own ports (reference §2): 15020 metrics (`/metrics`, `/stats/prometheus`), 15021 readiness
 * (`/healthz/ready`: 200 `ready` or 500 `not ready, pending: …`), 15000 admin on localhost (`/config_dump`,
 * `/logging`, `/quitquitquit`). A port that cannot be bound is logged and left out; traffic is not affected.
 */
export async function startOwnServers(opts: OwnServerOptions, deps: OwnServerDeps): Promise<Array<{ name: string; server: Server }>> {
  const { log } = deps;
  const metrics: Handler = async (req, res) => {
    res.writeHead(200, { 'content-type': deps.registry.contentType }).end(await deps.registry.metrics());
  };
  const servers: Array<{ name: string; routes: Record<string, Handler>; listen: { host: string; port: number } | undefined }> = [
    { name: 'metrics', listen: opts.metricsListen, routes: { '/metrics': metrics, '/stats/prometheus': metrics } },
    {
      name: 'readiness',
      listen: opts.readinessListen,
      routes: {
        '/healthz/ready': (_req, res) => {
          const pending = deps.pending();
          if (pending.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
          else res.writeHead(500, { 'content-type': 'text/plain' }).end(`not ready, pending: ${pending.join(', ')}\n`);
        },
      },
    },
    {
      name: 'admin',
      listen: opts.adminListen,
      routes: {
        '/config_dump': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(deps.dump(), null, 2)}\n`);
        },
        '/logging': (req, res, url) => {
          const level = url.searchParams.get('level');
          if (req.method === 'POST' && level !== null) {
            if (!LEVELS.includes(level)) {
              res.writeHead(400, { 'content-type': 'text/plain' }).end(`level must be one of ${LEVELS.join(', ')}\n`);
              return;
            }
            log.level = level;
            log.info({ level }, 'log level changed');
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify({ level: log.level })}\n`);
        },
        '/quitquitquit': (req, res) => {
          if (req.method !== 'POST') {
            res.writeHead(405, { 'content-type': 'text/plain' }).end('POST to shut down\n');
            return;
          }
          res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
          log.info('shutdown requested on /quitquitquit');
          opts.onQuit?.();
        },
      },
    },
  ];
  const started: Array<{ name: string; server: Server }> = [];
  for (const s of servers) {
    if (s.listen === undefined) continue;
    try {
      // SO_REUSEPORT: during a rolling update (maxSurge 1) the new ztunnel binds these next to the old one on the
      // node's namespace (contract 7); the old one closes its readiness port when it starts draining.
      started.push({ name: s.name, server: await startHttpServer(s.name, { ...s.listen, reusePort: true }, s.routes, log) });
    } catch (err) {
      log.error({ server: s.name, listen: s.listen, err: errorMessage(err) }, 'cannot listen');
    }
  }
  return started;
}
