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

export interface UpstreamConnections {
  /** Sends one request on a pooled connection to `endpoint` (HTTP/1.1 over undici, h2c/gRPC over node:http2). */
  request(endpoint: Endpoint, protocol: UpstreamProtocol, req: UpstreamRequest): Promise<UpstreamResponse>;
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
}

export function createUpstreamConnections(inputs: WaypointInputs, opts: UpstreamOptions = {}): UpstreamConnections {
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const log = inputs.log.child({ component: 'waypoint-upstream' });
  const h1 = new Map<string, Entry & { readonly pool: Pool }>();
  const h2 = new Map<string, Entry & { session: Promise<ClientHttp2Session> }>();

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

  function h1Pool(endpoint: Endpoint, key: string): Entry & { readonly pool: Pool } {
    let entry = h1.get(key);
    if (entry === undefined) {
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
        keepAliveTimeout: 4_000,
        // Timeouts are the route's (timeouts.request/backendRequest), not undici's 300 s defaults.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      entry = { pool, lastUsedMs: performance.now(), active: 0, ip: endpoint.workload.addresses[0] ?? '' };
      h1.set(key, entry);
    }
    return entry;
  }

  async function requestH1(endpoint: Endpoint, key: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    const entry = h1Pool(endpoint, key);
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

  function h2Session(endpoint: Endpoint, key: string): Entry & { session: Promise<ClientHttp2Session> } {
    let entry = h2.get(key);
    if (entry !== undefined) return entry;
    const created: Entry & { session: Promise<ClientHttp2Session> } = {
      lastUsedMs: performance.now(),
      active: 0,
      ip: endpoint.workload.addresses[0] ?? '',
      session: tunnel(endpoint, undefined).then((stream) => {
        const session = h2Connect(`http://${key}`, { createConnection: () => stream });
        const forget = (): void => {
          if (h2.get(key) === created) h2.delete(key);
        };
        session.once('close', forget);
        session.once('goaway', forget);
        session.on('error', (err) => log.debug({ endpoint: key, err: err.message }, 'upstream h2 session error'));
        return session;
      }),
    };
    // A failed tunnel must not be reused: the next request opens a new one.
    created.session.catch(() => {
      if (h2.get(key) === created) h2.delete(key);
    });
    entry = created;
    h2.set(key, entry);
    return entry;
  }

  async function requestH2(endpoint: Endpoint, key: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    const entry = h2Session(endpoint, key);
    entry.lastUsedMs = performance.now();
    const session = await entry.session;
    entry.active += 1;
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
        if (gone || (e.active <= 0 && now - e.lastUsedMs > idleTimeoutMs)) {
          h1.delete(key);
          void e.pool.destroy().catch(() => undefined);
        }
      }
      for (const [key, e] of h2) {
        const gone = inputs.state.workloadByIp(e.ip) === undefined;
        if (gone || (e.active <= 0 && now - e.lastUsedMs > idleTimeoutMs)) {
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
    request(endpoint, protocol, req) {
      const key = formatHostPort(endpoint.workload.addresses[0] ?? '', endpoint.port);
      return protocol === 'h1' ? requestH1(endpoint, key, req) : requestH2(endpoint, key, req);
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
