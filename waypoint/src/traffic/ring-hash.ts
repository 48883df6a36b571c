import { hash53 } from './hash.ts';
import type { HashTable } from './hash-table.ts';

/** Envoy's default `maximum_ring_size` (ring_hash_lb.cc): bounds memory whatever `minimumRingSize` asks. */
export const MAX_RING_SIZE = 8 * 1024 * 1024;

/**
 * Ketama-style consistent hash ring as Envoy's RING_HASH builds it (source/extensions/load_balancing_policies/ring_hash):
 * with equal weights every host gets ceil(minimumRingSize / hosts) points, each at the hash of `<host>_<i>`; a request
 * goes to the first point at or after its own hash, wrapping around. Removing a host moves only the requests that
 * landed on its points (about 1/N of them), which is what "consistent" buys.
 */
export function buildRingHash(keys: readonly string[], minimumRingSize: number): HashTable {
  const perHost = keys.length === 0 ? 0 : Math.ceil(Math.min(Math.max(1, minimumRingSize), MAX_RING_SIZE) / keys.length);
  const size = perHost * keys.length;
  const points: Array<{ hash: number; host: number }> = new Array<{ hash: number; host: number }>(size);
  let n = 0;
  for (let host = 0; host < keys.length; host++) {
    const key = keys[host] as string;
    for (let i = 0; i < perHost; i++) points[n++] = { hash: hash53(`${key}_${i}`), host };
  }
  // Ties (practically never at 53 bits) break by host index, so the ring does not depend on sort stability.
  points.sort((a, b) => a.hash - b.hash || a.host - b.host);
  const hashes = new Float64Array(size);
  const hosts = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const p = points[i] as { hash: number; host: number };
    hashes[i] = p.hash;
    hosts[i] = p.host;
  }
  return {
    size,
    lookup(hash, usable) {
      if (size === 0) return undefined;
      // First point with hash >= the request's (binary search), wrapping to the start past the last one.
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((hashes[mid] as number) < hash) lo = mid + 1;
        else hi = mid;
      }
      // Unusable hosts (ejected, already tried) are passed over by walking the ring, as Envoy does for unhealthy ones.
      for (let step = 0; step < size; step++) {
        const host = hosts[(lo + step) % size] as number;
        if (usable(host)) return host;
      }
      return undefined;
    },
  };
}
