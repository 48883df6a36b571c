import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';

/** Name and key of the ConfigMap holding the mesh root in every namespace (Istio: `istio-ca-root-cert`). */
export const ROOT_CONFIGMAP = 'ambit-ca-root-cert';
export const ROOT_CONFIGMAP_KEY = 'root-cert.pem';

/**
 * Publishes the mesh CA root into every namespace, so workloads and proxies can verify mesh certificates. Writes
 * only as leader; a namespace is written once per root (re-written if the ConfigMap changed or vanished).
 */
export class RootCertPublisher {
  readonly #done = new Set<string>();
  readonly #namespaces = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly rootPem: () => string,
    private readonly isLeader: () => boolean,
    private readonly log: Logger,
  ) {}

  async namespaceAdded(ns: string): Promise<void> {
    this.#namespaces.add(ns);
    if (this.isLeader()) await this.#publish(ns);
  }

  namespaceRemoved(ns: string): void {
    this.#namespaces.delete(ns);
    this.#done.delete(ns);
  }

  /** Someone changed or deleted our ConfigMap: write it again. */
  async configMapChanged(ns: string, data: Record<string, unknown> | undefined): Promise<void> {
    if (data?.[ROOT_CONFIGMAP_KEY] === this.rootPem()) return;
    this.#done.delete(ns);
    if (this.isLeader() && this.#namespaces.has(ns)) await this.#publish(ns);
  }

  async resync(): Promise<void> {
    if (!this.isLeader()) return;
    for (const ns of this.#namespaces) await this.#publish(ns);
  }

  invalidate(): void {
    this.#done.clear();
  }

  async #publish(ns: string): Promise<void> {
    if (this.#done.has(ns)) return;
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROOT_CONFIGMAP, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'ambit' } },
      data: { [ROOT_CONFIGMAP_KEY]: this.rootPem() },
    };
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    try {
      try {
        await this.client.request('POST', path, body);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
        await this.client.request('PATCH', `${path}/${ROOT_CONFIGMAP}`, { data: body.data }, 'application/merge-patch+json');
      }
      this.#done.add(ns);
    } catch (err) {
      // A terminating namespace refuses creates: not an error worth more than a debug line.
      this.log.debug({ namespace: ns, err: errorMessage(err) }, 'root ConfigMap not written; will retry at resync');
    }
  }
}
