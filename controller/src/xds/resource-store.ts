import { createHash } from 'node:crypto';

/** One resource as the server holds it: its encoded body and a version derived from the body. */
export interface StoredResource {
  readonly name: string;
  /** A hash of `body`: equal bytes, equal version, so re-publishing an unchanged resource pushes nothing. */
  readonly version: string;
  readonly body: Uint8Array;
}

export interface ResourceChanges {
  readonly upserted: ReadonlyArray<{ readonly name: string; readonly body: Uint8Array }>;
  readonly removed: readonly string[];
}

/** The full current state of every type the controller publishes: typeUrl -> name -> resource. */
export interface ResourceStore {
  /** Applies changes; returns the names whose version changed or that were removed (nothing else needs a push). */
  apply(typeUrl: string, changes: ResourceChanges): string[];
  get(typeUrl: string, name: string): StoredResource | undefined;
  names(typeUrl: string): Iterable<string>;
  size(typeUrl: string): number;
  /** Types that were published at least once. */
  has(typeUrl: string): boolean;
}

/** 64 bits of SHA-256, hex: collisions are negligible at mesh sizes and versions stay short on the wire. */
export function resourceVersion(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

export function createResourceStore(): ResourceStore {
  const types = new Map<string, Map<string, StoredResource>>();
  const empty = new Map<string, StoredResource>();
  return {
    apply(typeUrl, changes) {
      let byName = types.get(typeUrl);
      if (!byName) {
        byName = new Map();
        types.set(typeUrl, byName);
      }
      const removed = new Set(changes.removed);
      // Validate everything first: a rejected publish must leave the state untouched.
      for (const { name } of changes.upserted) {
        if (name === '') throw new TypeError(`publish ${typeUrl}: a resource has an empty name`);
        if (removed.has(name)) throw new TypeError(`publish ${typeUrl}: ${JSON.stringify(name)} is both upserted and removed`);
      }
      const changed: string[] = [];
      for (const { name, body } of changes.upserted) {
        const version = resourceVersion(body);
        if (byName.get(name)?.version === version) continue;
        byName.set(name, { name, version, body });
        changed.push(name);
      }
      for (const name of removed) if (byName.delete(name)) changed.push(name);
      return changed;
    },
    get: (typeUrl, name) => types.get(typeUrl)?.get(name),
    names: (typeUrl) => (types.get(typeUrl) ?? empty).keys(),
    size: (typeUrl) => types.get(typeUrl)?.size ?? 0,
    has: (typeUrl) => types.has(typeUrl),
  };
}
