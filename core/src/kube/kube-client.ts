import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError } from '../errors.ts';
import { asRecord } from '../fields/index.ts';

/** A Kubernetes API error: the HTTP status and the Status object's reason and message (`status` 404: not found). */
export class KubeApiError extends AmbitError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(`KUBE_${reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() || 'ERROR'}`, message);
  }
}

export interface KubeList {
  readonly metadata: { readonly resourceVersion: string };
  readonly items: Array<Record<string, unknown>>;
}

/** Bound on one request unless the caller gives another, ms. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Raw JSON requests with the kubeconfig's credentials. Components read objects as plain JSON (what they parse at the
 * edge, STYLE rule 4) rather than client-node's typed models, whose Date fields and class instances differ from what
 * watches deliver; client-node still provides the credentials and the informers' watch.
 */
export class KubeClient {
  constructor(readonly kc: KubeConfig) {}

  /**
   * `timeoutMs` bounds the whole exchange (default 30 000; then KUBE_TIMEOUT). A network or TLS error rejects as is,
   * a status ≥ 400 as KubeApiError.
   */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new AmbitError('NO_CLUSTER', 'kubeconfig has no current cluster');
    const url = new URL(cluster.server + path);
    const opts: RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = {
      ...(opts.headers as Record<string, string>),
      ...(payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {}),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      // A deadline for the whole exchange, not the socket's idle timeout: a server trickling bytes must not hold a
      // caller (a pod's CNI ADD) past its bound.
      const timer = setTimeout(
        () => req.destroy(new AmbitError('KUBE_TIMEOUT', `${method} ${path}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const settle = (fn: () => void): void => {
        clearTimeout(timer);
        fn();
      };
      const req = send(url, { ...opts, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => settle(() => reject(err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // a non-JSON body (proxy error page): keep the text for the message
          }
          const status = res.statusCode ?? 500;
          if (status >= 400) {
            const s = asRecord(parsed);
            settle(() =>
              reject(new KubeApiError(status, String(s['reason'] ?? ''), `${method} ${path}: ${status} ${String(s['message'] ?? text)}`)),
            );
          } else settle(() => resolve(parsed as T));
        });
      });
      req.on('error', (err) => settle(() => reject(err)));
      req.end(payload);
    });
  }

  /** GET of one object or list, bounded by `timeoutMs` (default 30 000). */
  get<T>(path: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<T> {
    return this.request<T>('GET', path, undefined, undefined, timeoutMs);
  }

  /** Lists raw objects, stamping apiVersion/kind on items (real list responses omit them per item). */
  async list(path: string, apiVersion: string, kind: string): Promise<KubeList> {
    const list = await this.request<KubeList>('GET', path);
    for (const item of list.items) {
      item['apiVersion'] ??= apiVersion;
      item['kind'] ??= kind;
    }
    return list;
  }
}
