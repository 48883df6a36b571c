import { connect as h2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { formatHostPort } from '@ambit/core/hbone';
import { spiffeId } from '@ambit/core';
import { WaypointError } from './errors.ts';
import { pairsFromObject, pairsToObject, type HeaderPairs } from './headers.ts';
import type { Endpoint, WaypointInputs } from './proxy-inputs.ts';

/** One try's request to an endpoint. Headers are already the forwarded set (hop-by-hop removed). */
export interface UpstreamRequest {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderPairs;
  /** Undefined: no body (the request ended with its headers). */
  readonly body: Readable | Buffer | undefined;
  readonly signal: AbortSignal;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: HeaderPairs;
  /** Ends when the response does; empty when `endStream`. */
  readonly body: Readable;
  /** True when the response had no body at all (HTTP/2 END_STREAM on the headers: gRPC's trailers-only answer). */
  readonly endStream: boolean;
  /** The trailers, once `body` has ended; undefined when none came. */
  trailers(): HeaderPairs | undefined;
}

export type UpstreamProtocol = 'h1' | 'h2';

/**
 * Connection settings of an endpoint under a DestinationRule `connectionPool` (traffic/policy.ts poolSettings): its
 * requests use pools of their own, keyed by endpoint and `id`, so they neither share connections with requests under
 * other settings nor change the defaults'.
 */
export interface UpstreamPoolSettings {
  /** Identifies the settings (equal settings, equal id). */
  readonly id: string;
  /** HTTP/1.1: at most this many connections to the endpoint (the cluster's breaker admits no more requests than this). */
  readonly maxConnections?: number;
  /** HTTP/1.1: a connection is closed after this many requests (undici maxRequestsPerClient); h2: the session is closed gracefully after this many streams. */
  readonly maxRequestsPerConnection?: number;
  /** A connection idle this long is closed (undici keep-alive timeout; h2 session timeout). */
  readonly idleTimeoutMs?: number;
}

export interface UpstreamConnections {
  /**
   * Sends one request on a pooled connection to `endpoint` (HTTP/1.1 over undici, h2c/gRPC over node:http2), on the
   * pools of `pool` when given (a DestinationRule's connection settings), else on the default ones.
   */
  request(endpoint: Endpoint, protocol: UpstreamProtocol, req: UpstreamRequest, pool?: UpstreamPoolSettings): Promise<UpstreamResponse>;
  /** A fresh HBONE tunnel to the endpoint (TCP passthrough, upgraded connections), unpooled. */
  tunnel(endpoint: Endpoint, forwardedFor: string | undefined): Promise<ClientHttp2Stream>;
  stats(): { h1Pools: number; h2Sessions: number };
  close(): Promise<void>;
}

/** HBONE port of every destination pod (reference istio-ambient.md §1); tests map it in their pool's `connect`. */
const DESTINATION_HBONE_PORT = 15008;

export interface UpstreamOptions {
  /** An upstream connection unused this long is closed; default 60000 ms. */
  readonly idleTimeoutMs?: number;
}

interface Entry {
  lastUsedMs: number;
  active: number;
  readonly ip: string;
  /** The map entry is dropped after this long unused (the connections themselves close on their own timers). */
  readonly idleTimeoutMs: number;
}

interface H2Entry extends Entry {
  session: Promise<ClientHttp2Session>;
  /** Streams opened on the session so far (maxRequestsPerConnection). */
  streams: number;
  readonly mapKey: string;
}

export function createUpstreamConnections(inputs: WaypointInputs, opts: UpstreamOptions = {}): UpstreamConnections {
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const log = inputs.log.child({ component: 'waypoint-upstream' });
  const h1 = new Map<string, Entry & { readonly pool: Pool }>();
  const h2 = new Map<string, H2Entry>();

  function tunnel(endpoint: Endpoint, forwardedFor: string | undefined): Promise<ClientHttp2Stream> {
    const ip = endpoint.workload.addresses[0] ?? '';
    const w = endpoint.workload;
    return inputs.pool.open({
      srcIdentity: inputs.config.identity,
      dstIdentities: [spiffeId(w.trustDomain, w.namespace, w.serviceAccount)],
      nextHop: { host: ip, port: DESTINATION_HBONE_PORT },
      authority: formatHostPort(ip, endpoint.port),
      ...(forwardedFor === undefined ? {} : { forwardedFor }),
    });
  }

  function h1Pool(endpoint: Endpoint, key: string, settings: UpstreamPoolSettings | undefined): Entry & { readonly pool: Pool } {
    const mapKey = settings === undefined ? key : `${key}#${settings.id}`;
    let entry = h1.get(mapKey);
    if (entry === undefined) {
      const idleMs = settings?.idleTimeoutMs;
      const pool = new Pool(`http://${key}`, {
        connect: (_options, callback) => {
          tunnel(endpoint, undefined).then(
            // An HBONE stream is a Duplex, not a net.Socket; undici only reads and writes it (node-facts).
            (stream) => callback(null, stream as unknown as Socket),
            (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
          );
        },
        // A Node backend closes idle connections after 5 s and says so (`keep-alive: timeout=5`); undici stops
        // reusing a connection this long before that hint, so a request never races the backend's close.
        keepAliveTimeoutThreshold: 1_000,
        // A DestinationRule idleTimeout is the longest a connection stays idle, whatever the backend's hint says.
        keepAliveTimeout: idleMs === undefined ? 4_000 : Math.min(idleMs, 4_000),
        ...(idleMs === undefined ? {} : { keepAliveMaxTimeout: Math.max(1, idleMs) }),
        ...(settings?.maxConnections === undefined ? {} : { connections: settings.maxConnections }),
        ...(settings?.maxRequestsPerConnection === undefined ? {} : { maxRequestsPerClient: settings.maxRequestsPerConnection }),
        // Timeouts are the route's (timeouts.request/backendRequest), not undici's 300 s defaults.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      entry = {
        pool,
        lastUsedMs: performance.now(),
        active: 0,
        ip: endpoint.workload.addresses[0] ?? '',
        idleTimeoutMs: idleMs ?? idleTimeoutMs,
      };
      h1.set(mapKey, entry);
    }
    return entry;
  }

  async function requestH1(
    endpoint: Endpoint,
    key: string,
    req: UpstreamRequest,
    settings: UpstreamPoolSettings | undefined,
  ): Promise<UpstreamResponse> {
    const entry = h1Pool(endpoint, key, settings);
    entry.active += 1;
    entry.lastUsedMs = performance.now();
    const flat: string[] = [];
    let host = false;
    for (const [k, v] of req.headers) {
      // undici refuses `expect` (node-facts); the waypoint already answered 100-continue to its client.
      if (k === 'expect') continue;
      if (k === 'host') host = true;
      flat.push(k, v);
    }
    if (!host) flat.push('host', req.authority);
    try {
      const res = await entry.pool.request({
        method: req.method,
        path: req.path,
        headers: flat,
        body: req.body ?? null,
        signal: req.signal,
      });
      const body = res.body as Readable;
      const done = (): void => {
        entry.active -= 1;
        entry.lastUsedMs = performance.now();
      };
      body.once('close', done);
      return {
        status: res.statusCode,
        headers: pairsFromObject(res.headers),
        body,
        endStream: false,
        trailers: () => (Object.keys(res.trailers).length === 0 ? undefined : pairsFromObject(res.trailers)),
      };
    } catch (err) {
      entry.active -= 1;
      throw err;
    }
  }

  function h2Session(endpoint: Endpoint, key: string, settings: UpstreamPoolSettings | undefined): H2Entry {
    const mapKey = settings === undefined ? key : `${key}#${settings.id}`;
    let entry = h2.get(mapKey);
    if (entry !== undefined) return entry;
    const idleMs = settings?.idleTimeoutMs;
    const created: H2Entry = {
      lastUsedMs: performance.now(),
      active: 0,
      streams: 0,
      mapKey,
      ip: endpoint.workload.addresses[0] ?? '',
      idleTimeoutMs: idleMs ?? idleTimeoutMs,
      session: tunnel(endpoint, undefined).then((stream) => {
        const session = h2Connect(`http://${key}`, { createConnection: () => stream });
        const forget = (): void => {
          if (h2.get(mapKey) === created) h2.delete(mapKey);
        };
        // DestinationRule idleTimeout: a session without frames for that long is closed gracefully (a stream still open
        // finishes), and forgotten first, so no new request is put on a closing session.
        if (idleMs !== undefined) {
          session.setTimeout(idleMs, () => {
            forget();
            session.close();
          });
        }
        session.once('close', forget);
        session.once('goaway', forget);
        session.on('error', (err) => log.debug({ endpoint: key, err: err.message }, 'upstream h2 session error'));
        return session;
      }),
    };
    // A failed tunnel must not be reused: the next request opens a new one.
    created.session.catch(() => {
      if (h2.get(mapKey) === created) h2.delete(mapKey);
    });
    entry = created;
    h2.set(mapKey, entry);
    return entry;
  }

  async function requestH2(
    endpoint: Endpoint,
    key: string,
    req: UpstreamRequest,
    settings: UpstreamPoolSettings | undefined,
  ): Promise<UpstreamResponse> {
    const entry = h2Session(endpoint, key, settings);
    entry.lastUsedMs = performance.now();
    const session = await entry.session;
    entry.active += 1;
    entry.streams += 1;
    const perSession = settings?.maxRequestsPerConnection;
    if (perSession !== undefined && entry.streams >= perSession && h2.get(entry.mapKey) === entry) {
      // maxRequestsPerConnection for h2: this stream is the session's last; the next request opens a new session, and
      // this one closes gracefully (GOAWAY once its streams are done), as Envoy's max_requests_per_connection.
      h2.delete(entry.mapKey);
      setImmediate(() => session.close());
    }
    const headers: Record<string, string | string[]> = {
      ...pairsToObject(req.headers.filter(([k]) => k !== 'host' && k !== 'expect')),
      ':method': req.method,
      ':path': req.path,
      ':authority': req.authority,
      ':scheme': 'http',
    };
    const stream = session.request(headers, { endStream: req.body === undefined, signal: req.signal });
    stream.once('close', () => {
      entry.active -= 1;
      entry.lastUsedMs = performance.now();
    });
    if (Buffer.isBuffer(req.body)) stream.end(req.body);
    else if (req.body !== undefined) req.body.pipe(stream);
    let trailers: HeaderPairs | undefined;
    stream.once('trailers', (t: IncomingHttpHeaders) => {
      trailers = pairsFromObject(t);
    });
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let responded = false;
      // Stays for the stream's life: an error after the response reaches the body's reader as a reset, not as an
      // uncaught 'error'.
      stream.on('error', (err: Error) => {
        if (responded) return;
        if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) {
          reject(new WaypointError('UPSTREAM_REFUSED_STREAM', `${key} refused the stream`, { cause: err }));
        } else reject(err);
      });
      stream.once('close', () => {
        // Closed before a response and without an error event (RST_STREAM with NO_ERROR, session gone).
        if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) {
          reject(new WaypointError('UPSTREAM_REFUSED_STREAM', `${key} refused the stream`));
        } else reject(new WaypointError('UPSTREAM_RESET', `${key} closed the stream before responding (code ${stream.rstCode})`));
      });
      stream.once('response', (h: IncomingHttpHeaders, flags: number) => {
        responded = true;
        resolve({
          status: Number(h[':status']),
          headers: pairsFromObject(h),
          body: stream,
          endStream: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
          trailers: () => trailers,
        });
      });
    });
  }

  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const [key, e] of h1) {
        const gone = inputs.state.workloadByIp(e.ip) === undefined;
        if (gone || (e.active <= 0 && now - e.lastUsedMs > e.idleTimeoutMs)) {
          h1.delete(key);
          void e.pool.destroy().catch(() => undefined);
        }
      }
      for (const [key, e] of h2) {
        const gone = inputs.state.workloadByIp(e.ip) === undefined;
        if (gone || (e.active <= 0 && now - e.lastUsedMs > e.idleTimeoutMs)) {
          h2.delete(key);
          e.session.then(
            (s) => s.close(),
            () => undefined,
          );
        }
      }
    },
    Math.min(idleTimeoutMs, 30_000),
  );
  sweep.unref();

  return {
    request(endpoint, protocol, req, pool) {
      const key = formatHostPort(endpoint.workload.addresses[0] ?? '', endpoint.port);
      return protocol === 'h1' ? requestH1(endpoint, key, req, pool) : requestH2(endpoint, key, req, pool);
    },
    tunnel,
    stats: () => ({ h1Pools: h1.size, h2Sessions: h2.size }),
    async close() {
      clearInterval(sweep);
      const pools = [...h1.values()];
      const sessions = [...h2.values()];
      h1.clear();
      h2.clear();
      await Promise.all([
        ...pools.map((e) => e.pool.destroy().catch(() => undefined)),
        ...sessions.map((e) =>
          e.session.then(
            (s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : (s.once('close', () => resolve()), s.destroy()))),
            () => undefined,
          ),
        ),
      ]);
    },
  };
}

/** An already-ended body, for responses without one. */
export function emptyBody(): Readable {
  return Readable.from([]);
}
