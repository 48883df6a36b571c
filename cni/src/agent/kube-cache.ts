// A typed cache of one kind, filled by a client-node informer (`@ambit/core/kube`, the controller's too): objects are
// converted once, at the edge (STYLE rule 4), and kept under a key of the caller's choosing (a pod's uid). The
// informer lists, watches from the list's version, relists on 410 Gone reporting what vanished meanwhile, and restarts
// with backoff after errors; this layer keeps the parsed view and tells subscribers what changed.
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage, type Logger } from '@ambit/core';
import { startInformer, type KubeClient, type RunningInformer, type WatchedKind } from '@ambit/core/kube';
import type { BackoffOptions } from '@ambit/core/xds';

export interface KubeCacheOptions<T> {
  readonly kc: KubeConfig;
  readonly client: KubeClient;
  /** What to list and watch, with its field selector (e.g. this node's pods). */
  readonly kind: WatchedKind;
  /** Converts one API object; throwing skips the object (logged, counted in `stats().badObjects`). */
  readonly parse: (x: unknown) => T;
  /** The key `get` answers by, e.g. a pod's uid. */
  readonly keyOf: (obj: T) => string;
  readonly log: Logger;
  /** Restart backoff after a failed list or watch; default the informer's (200 ms doubling to 10 s). */
  readonly backoff?: BackoffOptions;
}

export interface KubeCacheListener<T> {
  /** A change, also one a relist reveals; `current` undefined means gone. */
  readonly onChange?: (key: string, current: T | undefined, previous: T | undefined) => void;
  /** The first list is complete: the cache now holds the whole collection. */
  readonly onSynced?: () => void;
}

export interface KubeCacheStats {
  /** Lists that went through: the first, then one per relist (after a 410, or a restart without a version). */
  readonly lists: number;
  /** Restarts after a failed list or watch. */
  readonly restarts: number;
  readonly badObjects: number;
}

export interface KubeCache<T> {
  /** True once the first list is in. */
  synced(): boolean;
  get(key: string): T | undefined;
  /** By namespace and name (`''` for cluster-scoped kinds). */
  find(namespace: string, name: string): T | undefined;
  values(): T[];
  stats(): KubeCacheStats;
  /** Calls `listener` on every later change; returns the unsubscribe function. */
  subscribe(listener: KubeCacheListener<T>): () => void;
  /** Stops watching; the cache stays readable. */
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;
const isJson = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** `namespace/name` of a raw object, as client-node keys its own cache; undefined without a name. */
function objectName(raw: Json): string | undefined {
  const metadata = isJson(raw['metadata']) ? raw['metadata'] : {};
  const name = metadata['name'];
  const namespace = metadata['namespace'];
  if (typeof name !== 'string' || name === '') return undefined;
  return `${typeof namespace === 'string' ? namespace : ''}/${name}`;
}

export function startKubeCache<T>(opts: KubeCacheOptions<T>): KubeCache<T> {
  const log = opts.log.child({ component: 'kube-cache', kind: opts.kind.kind });
  const byKey = new Map<string, T>();
  // client-node tells changes by namespace/name; a relist may replace a pod by another of the same name (a new uid),
  // which it reports as an update: the old key must then go.
  const keyByName = new Map<string, string>();
  const listeners = new Set<KubeCacheListener<T>>();
  let isSynced = false;
  let badObjects = 0;

  // A throwing listener is a bug in the consumer; it must not stop the others, nor the informer.
  const notify = (key: string, current: T | undefined, previous: T | undefined): void => {
    for (const l of listeners) {
      try {
        l.onChange?.(key, current, previous);
      } catch (err) {
        log.error({ err: errorMessage(err), key }, 'BUG: cache change listener threw');
      }
    }
  };

  const remove = (name: string): void => {
    const key = keyByName.get(name);
    if (key === undefined) return;
    keyByName.delete(name);
    const previous = byKey.get(key);
    byKey.delete(key);
    notify(key, undefined, previous);
  };

  const onEvent = (type: 'upsert' | 'delete', raw: Json): void => {
    const name = objectName(raw);
    if (name === undefined) {
      badObjects++;
      log.warn({ type }, 'skipping an object without metadata.name');
      return;
    }
    let obj: T;
    try {
      obj = opts.parse(raw);
    } catch (err) {
      // A deletion still removes what the cache holds under that name; a bad update keeps the last good object.
      if (type === 'delete') return remove(name);
      badObjects++;
      log.warn({ object: name, err: errorMessage(err) }, 'skipping an object that does not parse');
      return;
    }
    const key = opts.keyOf(obj);
    if (type === 'delete') {
      // A deletion of an object the cache already replaced (another uid under the same name) is old news.
      if (keyByName.get(name) === key) remove(name);
      return;
    }
    const oldKey = keyByName.get(name);
    if (oldKey !== undefined && oldKey !== key) remove(name);
    const previous = byKey.get(key);
    byKey.set(key, obj);
    keyByName.set(name, key);
    notify(key, obj, previous);
  };

  const informer: RunningInformer = startInformer({
    kc: opts.kc,
    client: opts.client,
    kind: opts.kind,
    log,
    onEvent,
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
  });
  void informer.synced.then(() => {
    isSynced = true;
    for (const l of listeners) {
      try {
        l.onSynced?.();
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'BUG: cache sync listener threw');
      }
    }
  });

  return {
    synced: () => isSynced,
    get: (key) => byKey.get(key),
    find: (namespace, name) => {
      const key = keyByName.get(`${namespace}/${name}`);
      return key === undefined ? undefined : byKey.get(key);
    },
    values: () => [...byKey.values()],
    stats: () => ({ lists: informer.lists(), restarts: informer.restarts(), badObjects }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => informer.stop(),
  };
}
