import { LRUCache } from 'lru-cache';
import { sourceFacts, type SourceFacts } from './authorize.ts';

/**
 * Source facts (principal, namespace, service account) by SPIFFE ID, for the indexed policy sets: identities repeat
 * across connections and across recompiled sets, parsing them need not. Least recently used entries go first once
 * `maxEntries` are held, so a flood of one-off identities cannot grow it without bound nor flush the busy ones.
 * One per proxy (its policy sets share it), handed to compilePolicies.
 */
export interface SourceFactsCache {
  factsOf(identity: string | undefined): SourceFacts;
}

const NO_SOURCE = sourceFacts(undefined);

/** `maxEntries`: identities held; default 10 000. */
export function createSourceFactsCache(maxEntries = 10_000): SourceFactsCache {
  const cache = new LRUCache<string, SourceFacts>({ max: maxEntries });
  return {
    factsOf(identity) {
      if (identity === undefined) return NO_SOURCE;
      let facts = cache.get(identity);
      if (facts === undefined) cache.set(identity, (facts = sourceFacts(identity)));
      return facts;
    },
  };
}
