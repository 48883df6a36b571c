import { request } from 'node:http';
import { AmbitError, isRecord } from '@ambit/core';

/** A JSON request to the local cluster's API over its unix socket (no token needed: the socket is root-only). */
export async function apiRequest<T>(socketPath: string, method: string, path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const msg = isRecord(parsed) && 'message' in parsed ? String(parsed['message']) : text;
            reject(new AmbitError('API_ERROR', msg));
          } else resolve(parsed as T);
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new AmbitError('CLUSTER_DOWN', 'the local cluster is not running (start it with `ambitctl local up`)', { cause: err }));
      } else reject(err);
    });
    req.end(payload);
  });
}

export interface KubeList {
  readonly items: ReadonlyArray<Record<string, unknown> & { metadata: { name: string; namespace?: string } }>;
}
