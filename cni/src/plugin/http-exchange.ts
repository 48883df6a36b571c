import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { AmbitError } from '@ambit/core/errors';

/**
 * One HTTP/1.1 exchange, bounded as a whole: with the node agent over its unix socket (plain HTTP: the socket's mode
 * is its protection), or with the Kubernetes API over HTTPS (kubeconfig.ts gives the TLS options and the token).
 * Node's own http/https only: the plugin's Node fallback must start quickly.
 */
export type HttpTarget =
  | { readonly socketPath: string }
  | {
      /** `https://host:port` of the API server. */
      readonly origin: URL;
      /** CA bundle, client certificate and key, server name, as node:tls takes them. */
      readonly tls: HttpsTls;
      /** Keep-alive agent to share one TLS connection between look-ups; none opens one per exchange. */
      readonly agent?: HttpsAgent;
    };

export interface HttpsTls {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** `tls-server-name` of the kubeconfig; default the origin's host. */
  readonly servername?: string;
  /** kubeconfig `insecure-skip-tls-verify`; default false. */
  readonly insecureSkipVerify?: boolean;
}

export interface HttpExchangeRequest {
  readonly target: HttpTarget;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whole exchange, connect to last body byte, in milliseconds. */
  readonly timeoutMs: number;
}

export interface HttpExchangeResponse {
  readonly status: number;
  readonly body: string;
}

/** Bodies beyond this are cut: a Pod or an agent's error message is far smaller. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Why an exchange failed, so callers can tell "nobody listening" from "too slow". */
export class HttpExchangeError extends AmbitError {
  readonly reason: 'timeout' | 'connect' | 'io';

  constructor(reason: 'timeout' | 'connect' | 'io', message: string, cause?: unknown) {
    super(`HTTP_EXCHANGE_${reason.toUpperCase()}`, message, { cause });
    this.reason = reason;
  }
}

/** Resolves with any status; rejects with HttpExchangeError on connect failure, I/O or TLS error, or when the time is up. */
export function httpExchange(req: HttpExchangeRequest): Promise<HttpExchangeResponse> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers = {
    accept: 'application/json',
    ...req.headers,
    ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
  };
  const target = req.target;
  const where = 'socketPath' in target ? target.socketPath : target.origin.origin;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: HttpExchangeError | undefined, res?: HttpExchangeResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) {
        r.destroy();
        reject(err);
      } else if (res !== undefined) resolve(res);
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => finish(new HttpExchangeError('io', `${where}: reading the response: ${err.message}`, err)));
    };
    const r =
      'socketPath' in target
        ? httpRequest(
            // No keep-alive: one request per process run, and a pooled socket would keep the process alive.
            {
              socketPath: target.socketPath,
              method: req.method,
              path: req.path,
              agent: false,
              headers: { ...headers, connection: 'close' },
            },
            onResponse,
          )
        : httpsRequest(
            {
              host: target.origin.hostname.replace(/^\[|\]$/g, ''),
              port: target.origin.port === '' ? 443 : Number(target.origin.port),
              method: req.method,
              path: req.path,
              headers,
              agent: target.agent ?? false,
              ...(target.tls.ca === undefined ? {} : { ca: target.tls.ca }),
              ...(target.tls.cert === undefined ? {} : { cert: target.tls.cert }),
              ...(target.tls.key === undefined ? {} : { key: target.tls.key }),
              ...(target.tls.servername === undefined ? {} : { servername: target.tls.servername }),
              rejectUnauthorized: target.tls.insecureSkipVerify !== true,
            },
            onResponse,
          );
    const timer = setTimeout(
      () => finish(new HttpExchangeError('timeout', `${where}: no answer within ${req.timeoutMs} ms`)),
      req.timeoutMs,
    );
    r.on('error', (err: NodeJS.ErrnoException) => {
      const connect = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES';
      finish(new HttpExchangeError(connect ? 'connect' : 'io', `${where}: ${err.message}`, err));
    });
    r.end(payload);
  });
}
