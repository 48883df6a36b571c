import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import { pairsToObject, type HeaderPairs } from './headers.ts';

/**
 * One HTTP request/response as the request path sees it, whatever the downstream protocol: the HTTP/1.1 and HTTP/2
 * servers each adapt theirs to this, so routing, retries and recording are written once (request-path.ts).
 */
export interface Exchange {
  readonly version: 'HTTP/1.1' | 'HTTP/2';
  readonly method: string;
  /** Path and query, as received. */
  readonly target: string;
  /** `:authority`, or `Host` for HTTP/1.1. */
  readonly authority: string;
  /** Lower-case names, no pseudo-headers, as received (hop-by-hop fields still in). */
  readonly headers: HeaderPairs;
  /** Undefined when the request has no body. */
  readonly body: Readable | undefined;
  /** Sends the response head; `endStream` when no body follows. */
  respond(status: number, headers: HeaderPairs, endStream: boolean): void;
  /** Where the response body is written. */
  readonly out: Writable;
  /** Ends the response body, with trailers when given. */
  finish(trailers: HeaderPairs | undefined): void;
  headersSent(): boolean;
  /** Tears the exchange down mid-response (HTTP/1.1: the connection; HTTP/2: RST_STREAM). */
  abort(): void;
  /** Calls `cb` once if the client goes away before the response is finished. */
  onGone(cb: () => void): void;
}

export function http1Exchange(req: IncomingMessage, res: ServerResponse, headers: HeaderPairs): Exchange {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  return {
    version: 'HTTP/1.1',
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    authority: req.headers.host ?? '',
    headers,
    body: hasBody ? req : undefined,
    respond(status, pairs, endStream) {
      const flat: string[] = [];
      for (const [k, v] of pairs) flat.push(k, v);
      res.writeHead(status, flat);
      if (endStream) res.end();
    },
    out: res,
    finish(trailers) {
      if (trailers !== undefined && trailers.length > 0) res.addTrailers(pairsToObject(trailers));
      res.end();
    },
    headersSent: () => res.headersSent,
    abort: () => res.destroy(),
    onGone(cb) {
      res.once('close', () => {
        if (!res.writableFinished) cb();
      });
    },
  };
}

export function http2Exchange(
  stream: ServerHttp2Stream,
  h: Readonly<Record<string, string | string[] | undefined>>,
  endStream: boolean,
  headers: HeaderPairs,
): Exchange {
  const first = (name: string): string => {
    const v = h[name];
    return (Array.isArray(v) ? v[0] : v) ?? '';
  };
  let trailersToSend: HeaderPairs | undefined;
  return {
    version: 'HTTP/2',
    method: first(':method'),
    target: first(':path'),
    authority: first(':authority') || (headers.find(([k]) => k === 'host')?.[1] ?? ''),
    headers,
    body: endStream ? undefined : stream,
    respond(status, pairs, end) {
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ...pairsToObject(pairs), ':status': status }, { endStream: end, waitForTrailers: !end });
      if (!end) {
        stream.once('wantTrailers', () => {
          // With waitForTrailers the stream stays open after the last DATA frame until trailers (maybe none) go.
          if (!stream.destroyed) stream.sendTrailers(trailersToSend === undefined ? {} : pairsToObject(trailersToSend));
        });
      }
    },
    out: stream,
    finish(trailers) {
      trailersToSend = trailers;
      stream.end();
    },
    headersSent: () => stream.headersSent,
    abort: () => {
      if (!stream.destroyed) stream.close(0x2 /* INTERNAL_ERROR */);
    },
    onGone(cb) {
      stream.once('close', () => {
        if (!stream.writableFinished) cb();
      });
    },
  };
}
