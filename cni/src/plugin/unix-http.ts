import { request } from 'node:http';
import { AmbitError } from '@ambit/core/errors';

/** One HTTP/1.1 exchange over a unix socket; the plugin never opens TCP. */
export interface UnixHttpRequest {
  readonly socketPath: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
  /** Whole exchange, connect to last body byte, in milliseconds. */
  readonly timeoutMs: number;
}

export interface UnixHttpResponse {
  readonly status: number;
  readonly body: string;
}

/** Bodies beyond this are cut: a Pod or an agent's error message is far smaller. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Why an exchange failed, so callers can tell "nobody listening" from "too slow". */
export class UnixHttpError extends AmbitError {
  readonly reason: 'timeout' | 'connect' | 'io';

  constructor(reason: 'timeout' | 'connect' | 'io', message: string, cause?: unknown) {
    super(`UNIX_HTTP_${reason.toUpperCase()}`, message, { cause });
    this.reason = reason;
  }
}

/** Resolves with any status; rejects with UnixHttpError on connect failure, I/O error or when the time is up. */
export function unixHttp(req: UnixHttpRequest): Promise<UnixHttpResponse> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: UnixHttpError | undefined, res?: UnixHttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err !== undefined) {
        r.destroy();
        reject(err);
      } else if (res !== undefined) resolve(res);
    };
    const r = request(
      {
        socketPath: req.socketPath,
        method: req.method,
        path: req.path,
        // No keep-alive: one request per process run, and a pooled socket would keep the process alive.
        agent: false,
        headers: {
          accept: 'application/json',
          connection: 'close',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_BODY_BYTES) chunks.push(chunk);
        });
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => finish(new UnixHttpError('io', `reading the response: ${err.message}`, err)));
      },
    );
    const timer = setTimeout(() => finish(new UnixHttpError('timeout', `no answer within ${req.timeoutMs} ms`)), req.timeoutMs);
    r.on('error', (err: NodeJS.ErrnoException) => {
      const connect = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES';
      finish(new UnixHttpError(connect ? 'connect' : 'io', `${req.socketPath}: ${err.message}`, err));
    });
    r.end(payload);
  });
}
