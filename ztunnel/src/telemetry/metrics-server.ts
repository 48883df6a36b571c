import { createServer, type Server } from 'node:http';
import type { Logger } from '@ambit/core';
import type { Registry } from 'prom-client';

/**
 * Prometheus scrape endpoint on 15020 (`/metrics`, `/stats/prometheus`, as Istio's ztunnel). In local mode ztunnel
 * runs in its node's network namespace, so this listens there and nowhere else.
 */
export async function startMetricsServer(registry: Registry, listen: { host: string; port: number }, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/stats/prometheus')) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  log.info({ listen }, 'metrics on /metrics and /stats/prometheus');
  return server;
}
