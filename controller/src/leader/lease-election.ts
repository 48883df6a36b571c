import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';

export interface LeaseElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** This replica's identity (pod name, or host+pid). */
  readonly identity: string;
  /** How long a lease holds without renewal; default 15 s (client-go's default). */
  readonly leaseDurationMs?: number;
  /** Renewal period; default leaseDuration / 3. */
  readonly renewIntervalMs?: number;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly onChange?: (leading: boolean) => void;
}

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/**
 * Leader election over a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does: every replica serves
 * xDS, but only the holder writes (status, ConfigMaps), so replicas never fight over the same objects. Writes go
 * through the Lease's resourceVersion, so two replicas racing for an expired lease cannot both win.
 */
export class LeaseElection {
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastRenewMs = 0;
  readonly #durationMs: number;
  readonly #intervalMs: number;
  readonly #now: () => Date;

  constructor(private readonly opts: LeaseElectionOptions) {
    this.#durationMs = opts.leaseDurationMs ?? 15_000;
    this.#intervalMs = opts.renewIntervalMs ?? Math.floor(this.#durationMs / 3);
    this.#now = opts.now ?? (() => new Date());
  }

  /** True while this replica holds a lease it renewed within the lease duration. */
  isLeader(): boolean {
    return this.#leading && this.#now().getTime() - this.#lastRenewMs < this.#durationMs;
  }

  start(): void {
    void this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#leading) {
      // Hand over at once instead of making the next leader wait out the lease.
      try {
        const lease = await this.#get();
        if (lease?.spec.holderIdentity === this.opts.identity) {
          await this.#put({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
        }
      } catch (err) {
        this.opts.log.debug({ err: errorMessage(err) }, 'lease release failed');
      }
      this.#set(false);
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#tryAcquireOrRenew();
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'lease election round failed');
      if (!this.isLeader()) this.#set(false);
    }
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#tick(), this.#intervalMs);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const now = this.#now();
    const stamp = microTime(now);
    const { identity } = this.opts;
    const seconds = Math.ceil(this.#durationMs / 1000);
    const lease = await this.#get();
    if (lease === undefined) {
      await this.opts.client
        .request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        })
        .then(
          () => this.#renewed(now),
          (err: unknown) => this.#lost(err),
        );
      return;
    }
    const holder = lease.spec.holderIdentity ?? '';
    const renewMs = Date.parse(lease.spec.renewTime ?? '') || 0;
    const expired = now.getTime() - renewMs > (lease.spec.leaseDurationSeconds ?? seconds) * 1000;
    if (holder !== identity && holder !== '' && !expired) {
      this.#set(false);
      return;
    }
    const spec =
      holder === identity
        ? { ...lease.spec, renewTime: stamp, leaseDurationSeconds: seconds }
        : {
            holderIdentity: identity,
            leaseDurationSeconds: seconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1,
          };
    await this.#put({ ...lease, spec }).then(
      () => this.#renewed(now),
      (err: unknown) => this.#lost(err),
    );
  }

  #renewed(at: Date): void {
    this.#lastRenewMs = at.getTime();
    this.#set(true);
  }

  #lost(err: unknown): void {
    // 409: another replica wrote the Lease first (created it, or won the race for an expired one).
    if (err instanceof KubeApiError && err.status === 409) {
      this.#set(false);
      return;
    }
    throw err;
  }

  #set(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.opts.log.info({ identity: this.opts.identity, leading }, leading ? 'became leader' : 'stopped leading');
    this.opts.onChange?.(leading);
  }

  async #get(): Promise<Lease | undefined> {
    try {
      return await this.opts.client.request<Lease>('GET', this.#path());
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  #put(lease: Lease): Promise<unknown> {
    return this.opts.client.request('PUT', this.#path(), lease);
  }

  #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
