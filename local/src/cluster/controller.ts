import type { Logger } from '@ambit/core';
import type { StoreEvent, StoreView } from './store-view.ts';
import { WorkQueue } from './work-queue.ts';

export interface Controller {
  /** Stops reacting to events and waits for the reconcile in progress. */
  stop(): Promise<void>;
}

export interface ControllerSpec {
  readonly name: string;
  /**
   * Reconciles one key (usually `namespace/name`) from current store state; throwing retries with backoff.
   * `requeueAfter` asks for another reconcile of a key after a delay (time-based conditions no event signals).
   */
  readonly reconcile: (key: string, requeueAfter: (key: string, delayMs: number) => void) => void | Promise<void>;
  /** Maps a store event to the keys it dirties. */
  readonly route: (event: StoreEvent, add: (key: string) => void) => void;
  /** Keys to reconcile at start, before any event. */
  readonly initialKeys: () => Iterable<string>;
}

/** The shape every local controller shares: store events → keyed work queue → level-triggered reconcile. */
export function runController(view: StoreView, log: Logger, spec: ControllerSpec): Controller {
  const requeueAfter = (k: string, delayMs: number): void => queue.addAfter(k, delayMs);
  const queue: WorkQueue = new WorkQueue((k) => spec.reconcile(k, requeueAfter), log.child({ controller: spec.name }));
  const add = (k: string): void => queue.add(k);
  const unsubscribe = view.onChange((e) => spec.route(e, add));
  for (const k of spec.initialKeys()) add(k);
  return {
    async stop() {
      unsubscribe();
      await queue.stop();
    },
  };
}
