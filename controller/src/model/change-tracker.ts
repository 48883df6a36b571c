import { isDeepStrictEqual } from 'node:util';

/**
 * An output map that remembers, for the current apply, each touched key's value before its first change. At the
 * end, `takeChanges` compares before and after — so a resource recomputed several times, or recomputed to the same
 * content, is reported once or not at all.
 */
export class ChangeTracker<V> {
  private readonly current = new Map<string, V>();
  private readonly before = new Map<string, V | undefined>();

  get(key: string): V | undefined {
    return this.current.get(key);
  }

  set(key: string, value: V): void {
    this.remember(key);
    this.current.set(key, value);
  }

  delete(key: string): void {
    this.remember(key);
    this.current.delete(key);
  }

  /** Values sorted by key, for snapshots that diff cleanly. */
  sortedValues(): V[] {
    return [...this.current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  takeChanges(): { upserted: Array<[string, V]>; removed: string[] } {
    const upserted: Array<[string, V]> = [];
    const removed: string[] = [];
    for (const [key, old] of [...this.before.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const now = this.current.get(key);
      if (now === undefined) {
        if (old !== undefined) removed.push(key);
      } else if (old === undefined || !isDeepStrictEqual(old, now)) {
        upserted.push([key, now]);
      }
    }
    this.before.clear();
    return { upserted, removed };
  }

  private remember(key: string): void {
    if (!this.before.has(key)) this.before.set(key, this.current.get(key));
  }
}
