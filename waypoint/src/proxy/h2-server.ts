import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { errorMessage } from '@ambit/core';
import { http2Exchange } from './exchange.ts';
import { pairsFromObject } from './headers.ts';
import { serveExchange, type TunnelContext } from './request-path.ts';

export interface H2Server {
  /** Serves h2c (and gRPC) on a tunnel's stream until either side closes it. */
  serve(stream: Duplex, ctx: TunnelContext): void;
  close(): Promise<void>;
}

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS inside one tunnel; default 100 (Istio's waypoint advertises 100). */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE; default 60 KiB, as for HTTP/1.1. */
  readonly maxHeaderBytes?: number;
}

/**
 * One `http2.Server` (never listening) parses h2c for every tunnel: a stream emitted as a connection becomes a session.
 * The core stream API is used, not the compatibility layer: gRPC needs trailers-only responses and exact trailers.
 */
export function createH2Server(limits: H2Limits = {}, log: { debug: (o: object, m: string) => void }): H2Server {
  const contexts = new WeakMap<ServerHttp2Session, TunnelContext>();
  const sessions = new Set<ServerHttp2Session>();
  let pending: TunnelContext | undefined;
  const server: Http2Server = createServer({
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams ?? 100,
      maxHeaderListSize: limits.maxHeaderBytes ?? 60 * 1024,
      enablePush: false,
    },
  });
  // 'session' is emitted synchronously inside emit('connection'), so the tunnel's context is the pending one.
  server.on('session', (session: ServerHttp2Session) => {
    if (pending === undefined) {
      session.destroy();
      return;
    }
    contexts.set(session, pending);
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', (err) => log.debug({ err: errorMessage(err) }, 'downstream h2 session error'));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => {
    const ctx = contexts.get(stream.session as ServerHttp2Session);
    stream.on('error', () => undefined);
    if (ctx === undefined) {
      stream.close(0x2);
      return;
    }
    const endStream = (flags & 0x1) !== 0 || stream.readableEnded;
    void serveExchange(ctx, http2Exchange(stream, headers, endStream, pairsFromObject(headers)));
  });
  return {
    serve(stream, ctx) {
      pending = ctx;
      try {
        server.emit('connection', stream);
      } finally {
        pending = undefined;
      }
    },
    async close() {
      await Promise.all(
        [...sessions].map(
          (s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : (s.once('close', () => resolve()), s.destroy()))),
        ),
      );
    },
  };
}
