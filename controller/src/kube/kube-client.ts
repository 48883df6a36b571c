import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { AmbitError, asRecord } from '@ambit/core';

/** A Kubernetes API error: the HTTP status and the Status object's reason and message. */
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

/**
 * Raw JSON requests with the kubeconfig's credentials. The controller reads objects as plain JSON (what it parses at
 * the edge, STYLE rule 4) rather than client-node's typed models, whose Date fields and class instances differ from
 * what watches deliver; client-node still provides the credentials and the informers' watch.
 */
export class KubeClient {
  constructor(readonly kc: KubeConfig) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new AmbitError('NO_CLUSTER', 'kubeconfig has no current cluster');
    const url = new URL(cluster.server + path);
    const opts: RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { ...(opts.headers as Record<string, string>), ...(payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {}) };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { ...opts, headers, timeout: 30_000 }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
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
            reject(new KubeApiError(status, String(s['reason'] ?? ''), `${method} ${path}: ${status} ${String(s['message'] ?? text)}`));
          } else resolve(parsed as T);
        });
      });
      req.on('timeout', () => req.destroy(new AmbitError('KUBE_TIMEOUT', `${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
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
