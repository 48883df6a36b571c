import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';

/** The HTTP status of a failed client-node call (its ApiException carries `code`), or undefined for other errors. */
export function apiStatusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** A Secret's `data`, base64-decoded as UTF-8, or undefined when the Secret does not exist. */
export async function readSecretData(api: CoreV1Api, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  let secret: V1Secret;
  try {
    secret = await api.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if (apiStatusCode(err) === 404) return undefined;
    throw err;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  // stringData is write-only on a real API server; a server that echoes it back still means the same content.
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] ??= v;
  return out;
}
