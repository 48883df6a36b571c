import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';

export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

export interface StatusTarget {
  /** `security.istio.io/v1`, `gateway.networking.k8s.io/v1`. */
  readonly apiVersion: string;
  /** URL plural: `authorizationpolicies`, `gateways`. */
  readonly plural: string;
  /** '' for a cluster-scoped object (a GatewayClass). */
  readonly namespace: string;
  readonly name: string;
}

/** One `status.parents[]` entry of a Gateway API route, conditions without their timestamps. */
export interface RouteParentEntry {
  readonly parentRef: Readonly<Record<string, string | number>>;
  readonly controllerName: string;
  readonly conditions: readonly Condition[];
}

interface Wanted {
  readonly target: StatusTarget;
  /** What "unchanged" compares: the content without timestamps. */
  readonly body: string;
  /** The merge patch, stamped at write time. */
  readonly patch: (stamp: string) => Record<string, unknown>;
}

/**
 * Writes status conditions, only while this replica leads (the caller says so) and only when they changed since the
 * last write, so a resync after a leader change costs one patch per object and steady state costs none. A write
 * that fails is retried at the next resync (or at the next set() of the object); an object that is gone is forgotten.
 */
export class StatusWriter {
  readonly #written = new Map<string, string>();
  readonly #wanted = new Map<string, Wanted>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly isLeader: () => boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Records the desired conditions of an object and writes them if leading. `extra`: other status fields this writer
   * owns (a Gateway's `addresses`), merged into the same patch; a `null` value removes the field.
   */
  async set(
    target: StatusTarget,
    conditions: readonly Condition[],
    generation?: number,
    extra?: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    const k = key(target);
    this.#wanted.set(k, {
      target,
      // The generation is part of "unchanged": a spec edit that leaves the conditions as they were must still move
      // observedGeneration, or the status would look stale to `kubectl wait` and to users.
      body: JSON.stringify([conditions, extra ?? null, generation ?? null]),
      patch: (stamp) => ({ status: { ...extra, conditions: stampConditions(conditions, stamp, generation) } }),
    });
    if (this.isLeader()) await this.#write(k);
  }

  /**
   * Gateway API route status: `status.parents` is one list shared by every controller a route names, and a merge
   * patch replaces it whole. So `ours` are written together with `others` (the other controllers' entries as last
   * seen), conditional on the object's `resourceVersion`: if another controller wrote meanwhile, the API answers 409,
   * nothing of theirs is lost, and the object's next watch event brings their entries and a new call here.
   */
  async setRouteParents(
    target: StatusTarget,
    ours: readonly RouteParentEntry[],
    others: ReadonlyArray<Readonly<Record<string, unknown>>>,
    options: { readonly generation?: number; readonly resourceVersion?: string } = {},
  ): Promise<void> {
    const k = key(target);
    const { generation, resourceVersion } = options;
    this.#wanted.set(k, {
      target,
      body: JSON.stringify({ ours, others, generation }),
      patch: (stamp) => ({
        ...(resourceVersion === undefined ? {} : { metadata: { resourceVersion } }),
        status: { parents: [...others, ...ours.map((p) => ({ ...p, conditions: stampConditions(p.conditions, stamp, generation) }))] },
      }),
    });
    if (this.isLeader()) await this.#write(k);
  }

  forget(target: StatusTarget): void {
    this.#wanted.delete(key(target));
    this.#written.delete(key(target));
  }

  /** Writes everything not yet written (after becoming leader, or after failures). */
  async resync(): Promise<void> {
    if (!this.isLeader()) return;
    for (const k of this.#wanted.keys()) await this.#write(k);
  }

  /** A new leader must not trust what an earlier term wrote. */
  invalidate(): void {
    this.#written.clear();
  }

  async #write(k: string): Promise<void> {
    const want = this.#wanted.get(k);
    if (want === undefined) return;
    const { body, target } = want;
    if (this.#written.get(k) === body) return;
    const stamp = this.now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const prefix = target.apiVersion.includes('/') ? `/apis/${target.apiVersion}` : `/api/${target.apiVersion}`;
    const scope = target.namespace === '' ? '' : `/namespaces/${target.namespace}`;
    const path = `${prefix}${scope}/${target.plural}/${target.name}/status`;
    try {
      await this.client.request('PATCH', path, want.patch(stamp), 'application/merge-patch+json');
      this.#written.set(k, body);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) {
        // A conditional write lost to a newer version of the object; its watch event brings the next attempt.
        this.log.debug({ object: k, err: errorMessage(err) }, 'status not written: the object changed meanwhile');
        return;
      }
      if (err instanceof KubeApiError && err.status === 404) {
        // The object is gone (its delete event will follow), or its kind serves no status subresource.
        this.log.debug({ object: k, err: errorMessage(err) }, 'status not written: not found');
        this.forget(target);
        return;
      }
      this.log.warn({ object: k, err: errorMessage(err) }, 'status write failed; will retry at resync');
    }
  }
}

function stampConditions(conditions: readonly Condition[], stamp: string, generation: number | undefined): Array<Record<string, unknown>> {
  return conditions.map((c) => ({
    ...c,
    lastTransitionTime: stamp,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  }));
}

function key(t: StatusTarget): string {
  return `${t.apiVersion}/${t.plural}/${t.namespace}/${t.name}`;
}
