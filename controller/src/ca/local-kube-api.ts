import assert from 'node:assert';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { isRecord, silentLogger } from '@ambit/core';

/**
 * Test-only: starts the local cluster's Kubernetes-style API server (local/src/api) in-process, with namespaces
 * `default` and `ambit-system`, and returns a client-node KubeConfig for it (TLS + bearer token).
 *
 * Components must not import each other, and controller's tsconfig does not reference local/, so the modules are
 * loaded by runtime path and checked structurally here: tests get a faithful API server without a build-time
 * dependency.
 */
export interface LocalKubeApi {
  readonly kubeConfig: KubeConfig;
  close(): Promise<void>;
}

interface ApiServerModule {
  createApiServer(options: Record<string, unknown>): Promise<{ url: string; caCertPem: string | undefined; close(): Promise<void> }>;
}
interface ObjectStoreModule {
  ObjectStore: new (options: { namespaces: readonly string[] }) => object;
}

function localModule(path: string): string {
  return pathToFileURL(new URL(`../../../local/src/${path}`, import.meta.url).pathname).href;
}

async function load<T>(path: string, has: string): Promise<T> {
  const mod: unknown = await import(localModule(path));
  assert(isRecord(mod) && typeof mod[has] === 'function', `BUG: local/src/${path} no longer exports ${has}; update controller/src/ca/local-kube-api.ts`);
  return mod as T;
}

export async function startLocalKubeApi(): Promise<LocalKubeApi> {
  const { createApiServer } = await load<ApiServerModule>('api/server.ts', 'createApiServer');
  const { ObjectStore } = await load<ObjectStoreModule>('store/object-store.ts', 'ObjectStore');
  const token = `t-${Math.random().toString(36).slice(2)}`;
  const server = await createApiServer({
    store: new ObjectStore({ namespaces: ['default', 'ambit-system'] }),
    listen: { host: '127.0.0.1', port: 0 },
    token,
    log: silentLogger(),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'local', server: server.url, caData: Buffer.from(server.caCertPem ?? '').toString('base64') }],
    users: [{ name: 'controller', token }],
    contexts: [{ name: 'local', cluster: 'local', user: 'controller' }],
    currentContext: 'local',
  });
  return { kubeConfig, close: () => server.close() };
}
