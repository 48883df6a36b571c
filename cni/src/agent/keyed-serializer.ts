/**
 * Runs tasks one at a time per key (a pod's uid), in the order they were submitted; different keys run concurrently.
 * The CNI path and the label-driven reconcile both change a pod's capture; serialising per pod keeps one from
 * undoing the other halfway (e.g. a reconcile releasing a pod while its CNI ADD is installing rules).
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    // Forget a key once its last task is done, so the map holds only keys with work in flight.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  busyKeys(): string[] {
    return [...this.#tails.keys()];
  }

  /** Waits for every task submitted so far. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}
