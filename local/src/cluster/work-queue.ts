import type { Backoff, Logger } from '@ambit/core';
import { createBackoff, errorMessage } from '@ambit/core';

/**
 * A keyed work queue as Kubernetes controllers use: a key added many times before it is processed is processed
 * once; a key is never processed by two workers at once; a failure is retried with capped exponential backoff.
 * Controllers react to store events by adding keys, so a burst of changes coalesces into one reconcile.
 */
export class WorkQueue {
  readonly #pending = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirtyWhileActive = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #scheduled = false;
  #stopped = false;
  #inflight = 0;
  #idleWaiters: Array<() => void> = [];
  readonly #backoff: Backoff;

  /** `maxBackoffMs`: cap of the retry delay, which starts at 100 ms and doubles without jitter, as client-go's. */
  constructor(
    private readonly handler: (key: string) => void | Promise<void>,
    private readonly log: Logger,
    maxBackoffMs = 10_000,
  ) {
    this.#backoff = createBackoff({ initialMs: 100, maxMs: maxBackoffMs, jitter: 'none' });
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      this.#dirtyWhileActive.add(key);
      return;
    }
    this.#pending.add(key);
    if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate, not a microtask: the store emits events synchronously inside writes, and a handler must not
      // run in the middle of the write that triggered it.
      setImmediate(() => this.#drain());
    }
  }

  /** Adds `key` after `delayMs` (a reconcile that must look again later, e.g. when a pod becomes available). */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.add(key);
    }, delayMs);
    this.#timers.add(timer);
  }

  #drain(): void {
    this.#scheduled = false;
    const keys = [...this.#pending];
    this.#pending.clear();
    for (const key of keys) void this.#run(key);
  }

  async #run(key: string): Promise<void> {
    this.#active.add(key);
    this.#inflight++;
    try {
      await this.handler(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delayMs = this.#backoff.delayMs(n);
      this.log.warn({ key, attempt: n, delayMs, err: errorMessage(err) }, 'reconcile failed; retrying');
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.add(key);
      }, delayMs);
      this.#timers.add(timer);
    } finally {
      this.#active.delete(key);
      this.#inflight--;
      if (this.#dirtyWhileActive.delete(key)) this.add(key);
      if (this.#inflight === 0 && this.#pending.size === 0) {
        for (const w of this.#idleWaiters.splice(0)) w();
      }
    }
  }

  /** Stops taking work and waits for what is running to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#pending.clear();
    if (this.#inflight > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}
