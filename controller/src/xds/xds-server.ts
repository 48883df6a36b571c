/**
 * The controller's delta-xDS server: it holds the full current state of every published type and pushes changes to
 * every connected proxy over `envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources`
 * (reference istio-ambient.md §4; Envoy's incremental xDS protocol). Publishes within the debounce window coalesce
 * into one push per connection and type. Each stream runs independently (xds-connection.ts): a slow, broken or
 * silent proxy holds back only its own updates.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { AmbitError, errorMessage } from '@ambit/core';
import {
  aggregatedDiscoveryService,
  serverChannelOptions,
  systemClock,
  type Clock,
  type ClockTimer,
  type DeltaDiscoveryRequestWire,
  type DeltaDiscoveryResponseWire,
} from '@ambit/core/xds';
import { createResourceStore, type ResourceChanges } from './resource-store.ts';
import { XdsConnection, type ConnectionInfo } from './xds-connection.ts';
import { createXdsServerMetrics, type XdsServerMetrics } from './xds-metrics.ts';

export type XdsListen = { readonly socketPath: string } | { readonly host: string; readonly port: number };

export interface XdsServerTls {
  /** PEM key and certificate of the server, signed by the mesh CA. */
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** PEM of the mesh root, presented as the trust anchor for client certificates (which are not required). */
  readonly ca: string | Buffer;
}

export interface XdsServerOptions {
  /** A unix socket, or host:port (port 0 picks one). In a cluster: TLS on port 15012. */
  readonly listen: XdsListen;
  /** Absent: plaintext, for unix sockets. */
  readonly tls?: XdsServerTls;
  readonly log: Logger;
  /** Publishes within this window coalesce into one push, ms; default 100, at most 100. */
  readonly debounceMs?: number;
  /**
   * Authenticates a stream from its call metadata (e.g. `authorization: Bearer <token>`). The node it returns must
   * equal the request's `node.id`. Absent: the `node.id` the proxy sends is trusted (unix sockets only, in practice).
   */
  readonly authenticate?: (metadata: grpc.Metadata) => Promise<{ readonly node: string } | Error>;
  /** Streams beyond this are refused with RESOURCE_EXHAUSTED; default 10 000. */
  readonly maxConnections?: number;
  /** Default 1 000; more resources go out as several responses. */
  readonly maxResourcesPerResponse?: number;
  /** Sum of resource bodies per response, bytes; default 4 MiB (gRPC's default receive limit). */
  readonly maxResponseBytes?: number;
  /**
   * Adds other services to the same gRPC server before it binds (the CA shares port 15012 with xDS, as in istiod).
   */
  readonly configure?: (server: grpc.Server) => void;
  /** Registry to register the metrics in; they are always available as `metrics`. */
  readonly registry?: Registry;
  readonly clock?: Clock;
}

export interface XdsServer {
  /** Target for clients: `unix:/path` or `host:port`. */
  readonly address: string;
  /** Applies changes to the server's state of a type and schedules the push. Unchanged bodies push nothing. */
  publish(typeUrl: string, changes: ResourceChanges): void;
  /** Identified proxy streams, for status and debugging. */
  connections(): ConnectionInfo[];
  readonly metrics: XdsServerMetrics;
  /** Ends every stream with UNAVAILABLE (proxies reconnect elsewhere or later) and stops listening. */
  close(): Promise<void>;
}

export class XdsServerError extends AmbitError {}

export const MAX_DEBOUNCE_MS = 100;
const CLOSE_GRACE_MS = 1_000;
/** Each subscribed type holds state and may hold a response in flight: bound what one stream can make us keep. */
const MAX_TYPES_PER_STREAM = 32;

export async function createXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const debounceMs = options.debounceMs ?? MAX_DEBOUNCE_MS;
  if (!(debounceMs >= 0 && debounceMs <= MAX_DEBOUNCE_MS)) {
    throw new XdsServerError('BAD_CONFIG', `xDS debounceMs must be within 0..${MAX_DEBOUNCE_MS}, got ${debounceMs}`);
  }
  const clock = options.clock ?? systemClock;
  const log = options.log.child({ component: 'xds-server' });
  const maxConnections = options.maxConnections ?? 10_000;
  const limits = {
    maxResourcesPerResponse: options.maxResourcesPerResponse ?? 1_000,
    maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024,
  };
  const store = createResourceStore();
  const metrics = createXdsServerMetrics(options.registry);
  const noncePrefix = randomBytes(4).toString('hex');
  let nonceSeq = 0;
  const nextNonce = () => `${noncePrefix}-${++nonceSeq}`;

  const streams = new Map<XdsConnection, (code: grpc.status, details: string) => void>();
  let connSeq = 0;
  let closing = false;

  const server = new grpc.Server(serverChannelOptions());
  server.addService(aggregatedDiscoveryService, {
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire>) => accept(call),
  });

  function identified(): number {
    let n = 0;
    for (const c of streams.keys()) if (c.nodeId !== '') n++;
    return n;
  }

  function accept(call: grpc.ServerDuplexStream<DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire>): void {
    if (closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'the controller is shutting down' });
      return;
    }
    if (streams.size >= maxConnections) {
      log.warn({ maxConnections, peer: call.getPeer() }, 'xds: refusing a stream: connection limit reached');
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `more than ${maxConnections} xDS streams` });
      return;
    }
    const connLog = log.child({ conn: ++connSeq });
    let ended = false;
    const conn = new XdsConnection(
      {
        store,
        metrics,
        limits,
        log: connLog,
        now: () => clock.now(),
        nextNonce,
        write: (res) => {
          if (!ended) call.write(res);
        },
      },
      call.getPeer(),
    );
    // Recorded once, when the stream ends, whatever ended it (STYLE rule 13).
    const finish = (code: grpc.status, details: string, send: boolean) => {
      if (ended) return;
      ended = true;
      conn.close();
      streams.delete(conn);
      metrics.connectedProxies.set(identified());
      const seconds = (clock.now() - conn.connectedAt.getTime()) / 1000;
      connLog.info({ node: conn.nodeId, peer: conn.peer, code: grpc.status[code], details, seconds }, 'xds: stream closed');
      if (send) call.emit('error', { code, details });
    };
    streams.set(conn, (code, details) => finish(code, details, true));
    const auth = options.authenticate?.(call.metadata).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));

    // Requests are handled strictly in order; the only await is the authentication of the first one.
    let queue = Promise.resolve();
    call.on('data', (req: DeltaDiscoveryRequestWire) => {
      queue = queue
        .then(() => handle(req))
        .catch((err: unknown) => {
          connLog.error({ err: errorMessage(err) }, 'xds: BUG: request handling failed');
          finish(grpc.status.INTERNAL, 'internal error', true);
        });
    });
    call.on('end', () => {
      finish(grpc.status.OK, 'the proxy closed the stream', false);
      call.end();
    });
    call.on('cancelled', () => finish(grpc.status.CANCELLED, 'cancelled by the proxy', false));
    call.on('error', (err: Error) => finish(grpc.status.UNKNOWN, err.message, false));

    async function handle(req: DeltaDiscoveryRequestWire): Promise<void> {
      if (ended) return;
      if (conn.nodeId === '') {
        const id = req.node?.id ?? '';
        if (id === '') return finish(grpc.status.INVALID_ARGUMENT, 'the first request must carry node.id', true);
        if (auth) {
          const result = await auth;
          if (ended) return;
          if (result instanceof Error) return finish(grpc.status.UNAUTHENTICATED, result.message, true);
          if (result.node !== id) {
            return finish(
              grpc.status.PERMISSION_DENIED,
              `authenticated as ${JSON.stringify(result.node)}, not node.id ${JSON.stringify(id)}`,
              true,
            );
          }
        }
        conn.nodeId = id;
        metrics.connectedProxies.set(identified());
        connLog.info({ node: id, peer: conn.peer }, 'xds: proxy connected');
      }
      if (req.typeUrl === '') return finish(grpc.status.INVALID_ARGUMENT, 'type_url is empty', true);
      if (conn.isNewType(req.typeUrl) && conn.typeCount >= MAX_TYPES_PER_STREAM) {
        return finish(grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_TYPES_PER_STREAM} types on one stream`, true);
      }
      conn.handleRequest(req);
    }
  }

  // Debounce: the first publish opens a window; everything published until it closes goes out as one push per
  // connection and type. The window is not extended by later publishes, so latency stays bounded by debounceMs.
  const pending = new Map<string, { names: Set<string>; publishedAt: number }>();
  let flushTimer: ClockTimer | undefined;
  function flush(): void {
    flushTimer = undefined;
    const batches = [...pending];
    pending.clear();
    for (const [typeUrl, { names, publishedAt }] of batches) {
      for (const conn of streams.keys()) conn.markChanged(typeUrl, names, publishedAt);
    }
  }

  options.configure?.(server);
  const port = await bind(server, options.listen, options.tls);
  const address = 'socketPath' in options.listen ? `unix:${options.listen.socketPath}` : `${hostForTarget(options.listen.host)}:${port}`;
  log.info({ address, tls: options.tls !== undefined, debounceMs }, 'xds: listening');

  return {
    address,
    metrics,
    publish(typeUrl, changes) {
      if (closing) return;
      const changed = store.apply(typeUrl, changes);
      if (changed.length === 0) return;
      let batch = pending.get(typeUrl);
      if (!batch) {
        batch = { names: new Set(), publishedAt: clock.now() };
        pending.set(typeUrl, batch);
      }
      for (const n of changed) batch.names.add(n);
      flushTimer ??= clock.setTimeout(flush, debounceMs);
    },
    connections: () => [...streams.keys()].filter((c) => c.nodeId !== '').map((c) => c.info()),
    async close() {
      if (closing) return;
      closing = true;
      if (flushTimer !== undefined) clock.clearTimeout(flushTimer);
      flushTimer = undefined;
      for (const end of [...streams.values()]) end(grpc.status.UNAVAILABLE, 'the controller is shutting down');
      await new Promise<void>((resolve) => {
        // Proxies close their side on UNAVAILABLE; one that does not is cut after a grace period.
        const force = clock.setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, CLOSE_GRACE_MS);
        server.tryShutdown(() => {
          clock.clearTimeout(force);
          resolve();
        });
      });
      log.info({ address }, 'xds: closed');
    },
  };
}

async function bind(server: grpc.Server, listen: XdsListen, tls: XdsServerTls | undefined): Promise<number> {
  const creds = tls
    ? grpc.ServerCredentials.createSsl(toBuffer(tls.ca), [{ private_key: toBuffer(tls.key), cert_chain: toBuffer(tls.cert) }], false)
    : grpc.ServerCredentials.createInsecure();
  let target: string;
  if ('socketPath' in listen) {
    // A socket file left by a previous run (crash, restart on the same path) would make the bind fail.
    if (existsSync(listen.socketPath) && lstatSync(listen.socketPath).isSocket()) unlinkSync(listen.socketPath);
    target = `unix:${listen.socketPath}`;
  } else {
    target = `${hostForTarget(listen.host)}:${listen.port}`;
  }
  try {
    return await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
  } catch (err) {
    throw new XdsServerError('BIND_FAILED', `xDS server cannot listen on ${target}: ${errorMessage(err)}`, { cause: err });
  }
}

function hostForTarget(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function toBuffer(x: string | Buffer): Buffer {
  return typeof x === 'string' ? Buffer.from(x) : x;
}
