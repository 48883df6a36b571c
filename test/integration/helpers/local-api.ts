import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '@ambit/core';
import { createApiServer, type ApiServer } from '../../../local/src/api/server.ts';
import { createServingCert, type ServingCert } from '../../../local/src/api/self-signed-cert.ts';
import { writeKubeconfig } from '../../../local/src/runner/kubeconfig.ts';
import { crdDir, installCrds, readCrds } from '../../../local/src/runner/crds.ts';
import { ObjectStore } from '../../../local/src/store/object-store.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface LocalApiOptions {
  /** Also serve TLS + token on this unix socket (what a node's API forwarder joins its 127.0.0.1 port to). */
  readonly tlsSocketPath?: string;
}

/**
 * The local cluster's Kubernetes-style API, in-process on 127.0.0.1:0 over TLS, for controller and node agent tests:
 * the one faithful stand-in for a Kubernetes API server this machine can run. `restart()` drops every watch and
 * connection, then serves the same store on the same port again. Its store serves Ambit's CRDs (deploy/crds), as
 * a local cluster's does.
 */
export class LocalApi {
  readonly token = 'test-token';
  #cert: ServingCert | undefined;
  #api: ApiServer | undefined;
  #port = 0;

  constructor(
    readonly store: ObjectStore = new ObjectStore({ namespaces: ['default', 'ambit-system'] }),
    readonly options: LocalApiOptions = {},
  ) {
    installCrds(store, readCrds(crdDir(REPO)));
  }

  /** The serving certificate, made at the first start and kept across restarts (clients keep trusting it). */
  get cert(): ServingCert {
    if (this.#cert === undefined) throw new Error('LocalApi.cert read before start()');
    return this.#cert;
  }

  async start(): Promise<this> {
    this.#cert ??= await createServingCert();
    this.#api = await createApiServer({
      store: this.store,
      listen: { host: '127.0.0.1', port: this.#port },
      token: this.token,
      log: silentLogger(),
      tls: this.#cert,
      ...(this.options.tlsSocketPath === undefined ? {} : { tlsSocketPath: this.options.tlsSocketPath }),
    });
    this.#port = Number(new URL(this.#api.url).port);
    return this;
  }

  async stop(): Promise<void> {
    await this.#api?.close();
    this.#api = undefined;
  }

  async restart(between?: () => void): Promise<void> {
    await this.stop();
    between?.();
    await this.start();
  }

  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /** Writes a kubeconfig file (mode 0600) for `server` (default this API's URL) with its CA and token. */
  writeKubeconfig(path: string, server = this.url): string {
    writeKubeconfig(path, 'test', server, this.token, this.cert.certPem);
    return path;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'l', server: this.url, caData: Buffer.from(this.cert.certPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'u', token: this.token }],
      contexts: [{ name: 'c', cluster: 'l', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }
}
