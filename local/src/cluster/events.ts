import { randomBytes } from 'node:crypto';
import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { StoreView } from './store-view.ts';

/**
 * Records core `v1` Events for what the local control plane and kubelets do (Scheduled, Pulled/Created/Started,
 * FailedCreatePodSandBox, Killing, BackOff, ScalingReplicaSet, …), as client-go's event recorder does:
 *
 * - one Event per involved object, reason, message, type and source; a repeat bumps its `count` and `lastTimestamp`
 *   instead of adding another (client-go's EventCorrelator aggregates the same way);
 * - Events expire `ttlMs` after their last occurrence (kube-apiserver's `--event-ttl`, 1 h by default), so a
 *   long-running cluster does not accumulate them.
 *
 * Recording never fails the caller: an Event that cannot be written is logged at debug and dropped, as in a cluster.
 */

export type EventType = 'Normal' | 'Warning';

export interface EventSource {
  /** `kubelet`, `default-scheduler`, `deployment-controller`, … */
  readonly component: string;
  /** Node name, for kubelets. */
  readonly host?: string;
}

export interface EventRecorderOptions {
  readonly view: StoreView;
  readonly log: Logger;
  /** How long an Event lives after its last occurrence; default 3,600,000 ms (1 h, kube-apiserver's default). */
  readonly ttlMs?: number;
  /** How often expired Events are removed; default 60,000 ms. */
  readonly sweepIntervalMs?: number;
  /** Clock; default `() => new Date()`. */
  readonly now?: () => Date;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class EventRecorder {
  /** Aggregation key → Event name in the store. */
  readonly #names = new Map<string, string>();
  readonly #timer: NodeJS.Timeout;
  readonly #ttlMs: number;
  readonly #now: () => Date;
  readonly #log: Logger;

  constructor(private readonly opts: EventRecorderOptions) {
    this.#ttlMs = opts.ttlMs ?? 3_600_000;
    this.#now = opts.now ?? (() => new Date());
    this.#log = opts.log.child({ component: 'events' });
    this.#timer = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 60_000);
    this.#timer.unref();
  }

  /**
   * Records that `reason` happened to `obj`. `fieldPath` names the part (`spec.containers{web}`), as the kubelet's
   * container events do.
   */
  record(obj: KubeObject, type: EventType, reason: string, message: string, source: EventSource, fieldPath?: string): void {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = JSON.stringify([namespace, obj.kind, obj.metadata.name, obj.metadata.uid, fieldPath, type, reason, message, source]);
    const now = rfc3339(this.#now());
    try {
      const name = this.#names.get(key);
      const existing = name === undefined ? undefined : this.opts.view.find('Event', namespace, name);
      if (existing !== undefined) {
        const count = typeof existing['count'] === 'number' ? existing['count'] : 1;
        this.opts.view.update({ ...existing, count: count + 1, lastTimestamp: now });
        return;
      }
      // client-go names Events `<object>.<hex of the time>`; the random part keeps names unique within a second.
      const eventName = `${obj.metadata.name ?? 'unknown'}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      this.opts.view.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName, namespace },
        involvedObject: {
          kind: obj.kind,
          apiVersion: obj.apiVersion,
          name: obj.metadata.name,
          ...(obj.metadata.namespace === undefined ? {} : { namespace: obj.metadata.namespace }),
          ...(obj.metadata.uid === undefined ? {} : { uid: obj.metadata.uid }),
          ...(obj.metadata.resourceVersion === undefined ? {} : { resourceVersion: obj.metadata.resourceVersion }),
          ...(fieldPath === undefined ? {} : { fieldPath }),
        },
        reason,
        message,
        type,
        source: { component: source.component, ...(source.host === undefined ? {} : { host: source.host }) },
        reportingComponent: source.component,
        reportingInstance: source.host ?? '',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      this.#names.set(key, eventName);
    } catch (err) {
      this.#log.debug({ err: errorMessage(err), reason, object: `${namespace}/${obj.metadata.name ?? ''}` }, 'event not recorded');
    }
  }

  /** Removes Events (anyone's) whose last occurrence is older than the TTL, and forgets aggregation keys of gone ones. */
  sweep(): void {
    const cutoff = this.#now().getTime() - this.#ttlMs;
    for (const ev of this.opts.view.list('Event')) {
      const last = Date.parse(String(ev['lastTimestamp'] ?? ev.metadata.creationTimestamp ?? ''));
      if (Number.isFinite(last) && last < cutoff) this.opts.view.remove('Event', ev.metadata.namespace, ev.metadata.name ?? '');
    }
    for (const [key, name] of this.#names) {
      const namespace = (JSON.parse(key) as unknown[])[0];
      if (typeof namespace !== 'string' || this.opts.view.find('Event', namespace, name) === undefined) this.#names.delete(key);
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
