/**
 * A reverse index, key → set of values (`ns/name` of a Service → keys of the objects that refer to it): how the route,
 * traffic and L7 builders find what a change affects. A key whose set empties is dropped, so the index never grows
 * with keys nothing refers to any more.
 */

export function addTo<V>(index: Map<string, Set<V>>, key: string, value: V): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

export function removeFrom<V>(index: Map<string, Set<V>>, key: string, value: V): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
