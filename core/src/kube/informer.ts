import { setTimeout as sleep } from 'node:timers/promises';
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { createBackoff, type BackoffOptions } from '../backoff.ts';
import { systemClock, type Clock, type ClockTimer } from '../clock.ts';
import { AmbitError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { KubeApiError, type KubeClient } from './kube-client.ts';
import type { WatchedKind } from './watched-kind.ts';

export type WatchEventType = 'upsert' | 'delete';

export interface InformerOptions {
  readonly kc: KubeConfig;
  readonly client: KubeClient;
  readonly kind: WatchedKind;
  readonly onEvent: (type: WatchEventType, object: Record<string, unknown>) => void;
  readonly log: Logger;
  /**
   * Delays between restarts after an error; default 200 ms doubling to 10 s, equal jitter (so the informers of one
   * controller, which all fail together when the API server goes away, do not all come back at the same instant).
   */
  readonly backoff?: BackoffOptions;
  /** Default the system clock. */
  readonly clock?: Clock;
}

export interface RunningInformer {
  /** Resolves after the first complete list has been delivered (never while every list fails). */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
  /** How many times the informer restarted after an error (for tests and metrics). */
  restarts(): number;
  /** How many lists succeeded: the first, then one per relist (a 410, or a restart without a resourceVersion). */
  lists(): number;
}

/**
 * A client-node informer (list, then watch from the list's resourceVersion) that survives what clusters do to
 * watches: a watch the server closes is resumed from the last resourceVersion (client-node does this); a 410 Gone
 * relists, and the relist reports deletions that happened meanwhile (client-node); any other error (API down, TLS,
 * 5xx) stops client-node's loop, so here it is restarted with capped, jittered exponential backoff. Nothing is lost
 * or duplicated: after a restart the informer resumes from its resourceVersion or relists and diffs.
 */
export function startInformer(opts: InformerOptions): RunningInformer {
  const { kind, log } = opts;
  const backoff = createBackoff({ initialMs: 200, maxMs: 10_000, ...opts.backoff });
  const clock = opts.clock ?? systemClock;
  const query = new URLSearchParams();
  if (kind.labelSelector !== undefined) query.set('labelSelector', kind.labelSelector);
  if (kind.fieldSelector !== undefined) query.set('fieldSelector', kind.fieldSelector);
  const listPath = query.size === 0 ? kind.path : `${kind.path}?${query.toString()}`;
  let stopped = false;
  // client-node looks at stop() only before it lists and before it reconnects: a list or a watch request still on its
  // way when stop() is called would otherwise go on to open a watch nobody ever closes.
  class StoppableWatch extends Watch {
    override async watch(...args: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
      const request = await super.watch(...args);
      if (stopped) request.abort();
      return request;
    }
  }
  const informer = new ListWatch<KubernetesObject>(
    kind.path,
    new StoppableWatch(opts.kc),
    async () => {
      // client-node's listFn contract: a list whose items are the objects; raw JSON, kind stamped on.
      const list = await opts.client.list(listPath, kind.apiVersion, kind.kind);
      if (stopped) throw new AmbitError('INFORMER_STOPPED', `${kind.kind} informer stopped while listing`);
      listCount++;
      return list as unknown as { metadata: { resourceVersion: string }; items: KubernetesObject[] };
    },
    false,
    kind.labelSelector,
    kind.fieldSelector,
    // client-node's pause between quiet reconnects: not a reason to keep a stopped process alive.
    { delayFn: (ms) => (stopped ? Promise.resolve() : sleep(ms, undefined, { ref: false })) },
  );
  let failures = 0;
  let restartCount = 0;
  let listCount = 0;
  let timer: ClockTimer | undefined;
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const stamp = (o: KubernetesObject): Record<string, unknown> => {
    const obj = o as unknown as Record<string, unknown>;
    obj['apiVersion'] ??= kind.apiVersion;
    obj['kind'] ??= kind.kind;
    return obj;
  };
  informer.on('add', (o) => opts.onEvent('upsert', stamp(o)));
  informer.on('update', (o) => opts.onEvent('upsert', stamp(o)));
  informer.on('delete', (o) => opts.onEvent('delete', stamp(o)));
  // client-node emits 'connect' as each attempt begins, before its list, and start() resolves even when that list
  // failed (the failure comes through 'error'): so the backoff restarts from the beginning only after an attempt that
  // raised no error, else a server that is down would be retried at the first delay forever.
  let attemptFailed = false;
  // A 404 on the list: the API server does not serve this kind (its CRD is not installed yet). That is a cluster
  // without any such object, not a failure to wait for: the informer counts as synced (so the component becomes
  // ready) and keeps asking at the backoff's pace, logging once per outage, so objects appear when the CRD does.
  let notServedLogged = false;
  informer.on('error', (err: unknown) => {
    attemptFailed = true;
    if (stopped) return;
    failures++;
    restartCount++;
    const delayMs = backoff.delayMs(failures);
    if (err instanceof KubeApiError && err.status === 404) {
      if (!notServedLogged)
        log.warn({ kind: kind.kind, path: kind.path, delayMs }, 'kind not served by the API server (CRD not installed?); will keep trying');
      notServedLogged = true;
      markSynced();
    } else {
      log.warn({ kind: kind.kind, err: errorMessage(err), delayMs }, 'watch failed; restarting');
    }
    timer = clock.setTimeout(() => void begin(), delayMs);
  });
  const begin = async (): Promise<void> => {
    if (stopped) return;
    attemptFailed = false;
    try {
      await informer.start();
      if (!attemptFailed) failures = 0;
      // start() also returns when its list failed (reported through 'error', which restarts): synced only once a
      // list went through. client-node delivers the list's items before start() returns.
      if (listCount > 0) markSynced();
      if (!attemptFailed) notServedLogged = false;
    } catch (err) {
      // start() reports list/watch failures through 'error' as well; this catch covers throws before that.
      log.warn({ kind: kind.kind, err: errorMessage(err) }, 'informer start failed');
    }
  };
  void begin();
  return {
    synced,
    restarts: () => restartCount,
    lists: () => listCount,
    async stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await informer.stop();
    },
  };
}
