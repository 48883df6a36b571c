import type { Logger } from '@ambit/core';
import type { KubeObject, WatchEvent } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { deepFreeze } from './merge-patch.ts';
import type { Selector } from './selectors.ts';

/** A committed change, as in-process subscribers see it. Objects are frozen: copy before changing. */
export interface StoreEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
  readonly oldObject?: KubeObject;
}

/** One committed change with the resource version it produced and the storage it belongs to. */
export interface HistoryEntry {
  readonly rv: number;
  readonly storageKey: string;
  readonly event: StoreEvent;
}

export interface WatchFilter {
  readonly storageKey: string;
  readonly namespace: string | undefined;
  readonly selector: Selector;
}

export interface WatchHandle {
  stop(): void;
}

interface Watcher {
  readonly filter: WatchFilter;
  readonly onEvent: (e: WatchEvent) => void;
  /** Highest rv this watcher has been offered; guards against seeing an event twice (replay, then queue). */
  deliveredRv: number;
  stopped: boolean;
}

/**
 * What one watch sees of a change. An object that stops matching the selector is DELETED for that watch and one that
 * starts matching is ADDED, as the real watch cache does (the DELETED carries the old state with the new rv).
 */
function project(filter: WatchFilter, entry: HistoryEntry): WatchEvent | undefined {
  if (entry.storageKey !== filter.storageKey) return undefined;
  const { type, object, oldObject } = entry.event;
  if (filter.namespace !== undefined && object.metadata.namespace !== filter.namespace) return undefined;
  const now = filter.selector.matches(object);
  if (type !== 'MODIFIED' || oldObject === undefined) return now ? { type, object } : undefined;
  const before = filter.selector.matches(oldObject);
  if (now) return { type: before ? 'MODIFIED' : 'ADDED', object };
  if (!before) return undefined;
  const gone = structuredClone(oldObject) as KubeObject;
  gone.metadata.resourceVersion = object.metadata.resourceVersion ?? '';
  return { type: 'DELETED', object: deepFreeze(gone) };
}

/**
 * Bounded history and fan-out of committed changes. Delivery is synchronous and in commit order; a listener that
 * writes to the store while being called queues its events behind the current ones instead of re-entering.
 */
export class WatchHub {
  private readonly history: HistoryEntry[] = [];
  /** Highest rv evicted from history: watches from an rv below it cannot be served (410 Expired). */
  private evictedRv = 0;
  private lastRv = 0;
  private readonly queue: HistoryEntry[] = [];
  private flushing = false;
  private readonly watchers = new Set<Watcher>();
  private readonly subscribers = new Set<(e: StoreEvent) => void>();

  constructor(
    private readonly historyLimit: number,
    private readonly log: Logger,
  ) {}

  commit(entries: readonly HistoryEntry[]): void {
    for (const e of entries) {
      this.history.push(e);
      this.lastRv = e.rv;
      this.queue.push(e);
    }
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.evictedRv = dropped.rv;
    }
    this.flush();
  }

  /**
   * Watches from `fromRv` (replaying history, synchronously, before returning) or, when undefined, from now.
   * Throws 410 Expired when the history no longer reaches back to `fromRv`.
   */
  watch(filter: WatchFilter, fromRv: number | undefined, onEvent: (e: WatchEvent) => void): WatchHandle {
    const w: Watcher = { filter, onEvent, deliveredRv: this.lastRv, stopped: false };
    if (fromRv !== undefined && fromRv < this.lastRv) {
      if (fromRv < this.evictedRv) throw ApiError.expired(fromRv, this.evictedRv + 1);
      this.watchers.add(w);
      for (const entry of this.history) {
        if (entry.rv <= fromRv) continue;
        if (w.stopped) break;
        this.offer(w, entry);
      }
    } else {
      this.watchers.add(w);
    }
    return {
      stop: () => {
        w.stopped = true;
        this.watchers.delete(w);
      },
    };
  }

  subscribe(onEvent: (e: StoreEvent) => void): () => void {
    // Wrapped so the same function can subscribe twice and each unsubscribe removes only its own registration.
    const wrapped = (e: StoreEvent): void => onEvent(e);
    this.subscribers.add(wrapped);
    return () => {
      this.subscribers.delete(wrapped);
    };
  }

  private offer(w: Watcher, entry: HistoryEntry): void {
    w.deliveredRv = entry.rv;
    const ev = project(w.filter, entry);
    if (ev === undefined) return;
    try {
      w.onEvent(ev);
    } catch (err) {
      this.log.error({ err }, 'watch listener threw; event dropped for that watch');
    }
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let entry = this.queue.shift(); entry !== undefined; entry = this.queue.shift()) {
        for (const s of [...this.subscribers]) {
          try {
            s(entry.event);
          } catch (err) {
            this.log.error({ err }, 'store subscriber threw');
          }
        }
        for (const w of [...this.watchers]) {
          if (!w.stopped && entry.rv > w.deliveredRv) this.offer(w, entry);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
