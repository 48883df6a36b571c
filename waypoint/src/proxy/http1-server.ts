import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage } from '@ambit/core';
import { http1Exchange } from './exchange.ts';
import { pairsFromRaw } from './headers.ts';
import type { RequestRecord } from './proxy-inputs.ts';
import { serveExchange, type TunnelContext } from './request-path.ts';
import { serveUpgrade } from './upgrade.ts';

export interface Http1Limits {
  /** Request header block limit; larger gets 431. Default 60 KiB (Envoy's max_request_headers_kb). */
  readonly maxHeaderBytes?: number;
  /** A request's headers must be complete this long after its first byte, else 408 and close; default 10000 ms. */
  readonly headersTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this; default 60000 ms. */
  readonly keepAliveTimeoutMs?: number;
}

export interface Http1Server {
  /** Serves HTTP/1.1 on a tunnel's stream (already shimmed as a socket) until either side closes it. */
  serve(stream: Duplex, ctx: TunnelContext): void;
  close(): Promise<void>;
}

/**
 * One `http.Server` parses HTTP/1.1 for every tunnel: streams are emitted into it as connections (node-facts). It
 * listens once on 127.0.0.1:0 only because Node enforces `headersTimeout` and closes idle connections only for a
 * server that has emitted 'listening'; that port serves nothing (its connections are destroyed on arrival), so no one
 * can reach the routes past the mTLS of 15008.
 */
export async function startHttp1Server(limits: Http1Limits = {}): Promise<Http1Server> {
  const contexts = new WeakMap<object, TunnelContext>();
  const headersTimeoutMs = limits.headersTimeoutMs ?? 10_000;
  const server: Server = createServer({
    maxHeaderSize: limits.maxHeaderBytes ?? 60 * 1024,
    headersTimeout: headersTimeoutMs,
    // A whole request has no limit here: routes set timeouts.request, and a 100 MiB upload may take long.
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutMs ?? 60_000,
    // How often Node checks headersTimeout; its 30 s default would let a slow-headers connection live 30 s longer.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    requireHostHeader: false,
  });
  server.on('connection', (socket: Duplex) => {
    if (!contexts.has(socket)) socket.destroy();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const ctx = contexts.get(req.socket);
    if (ctx === undefined) {
      res.destroy();
      return;
    }
    void serveExchange(ctx, http1Exchange(req, res, pairsFromRaw(req.rawHeaders)));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const ctx = contexts.get(socket);
    if (ctx === undefined) {
      socket.destroy();
      return;
    }
    // A declined upgrade hands the connection back: it is parsed again as a fresh HTTP/1.1 connection.
    void serveUpgrade(ctx, req, socket, head, (again) => server.emit('connection', again));
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const ctx = contexts.get(socket);
    if (err.code === 'ECONNRESET' || !socket.writable || ctx === undefined) {
      socket.destroy();
      return;
    }
    // RFC 9112: a message that cannot be parsed (malformed request line, CL with TE, two different Content-Lengths)
    // gets 400 and the connection is closed, since where the next request starts is unknown.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = STATUS_CODES[status] ?? '';
    socket.end(Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, 'latin1'));
    ctx.inputs.telemetry.request(protocolErrorRecord(ctx, status, `${err.code ?? 'parse error'}: ${errorMessage(err)}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    serve(stream, ctx) {
      contexts.set(stream, ctx);
      server.emit('connection', stream);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The record of a request the parser refused (no route, no upstream: Envoy's DPE). */
function protocolErrorRecord(ctx: TunnelContext, status: number, error: string): RequestRecord {
  return {
    protocol: 'http',
    httpVersion: 'HTTP/1.1',
    method: '-',
    path: '-',
    authority: '-',
    requestId: '-',
    userAgent: undefined,
    sourcePrincipal: ctx.sourcePrincipal,
    source: ctx.source,
    sourceAddr: ctx.sourceAddr,
    service: ctx.destination.service,
    destination: undefined,
    upstreamHost: undefined,
    route: undefined,
    responseCode: status,
    grpcStatus: undefined,
    responseFlags: 'DPE',
    requestBytes: 0,
    responseBytes: 0,
    durationMs: 0,
    attempts: 0,
    traceparent: undefined,
    error,
  };
}
