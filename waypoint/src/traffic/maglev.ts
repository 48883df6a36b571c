import { hash53 } from './hash.ts';
import type { HashTable } from './hash-table.ts';

/** Istio's and Envoy's default Maglev table size (a prime). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
 * §3.4, Pseudocode 1), as Envoy's MAGLEV: each host has a permutation of the table's slots given by
 * `offset = h0(host) mod M` and `skip = h1(host) mod (M − 1) + 1`; hosts take turns claiming their next free slot
 * until the table is full, so each owns ~M/N slots and removing a host reassigns mostly its own slots. M must be
 * prime for every skip to visit every slot; a size that is not prime is raised to the next prime.
 */
export function buildMaglev(keys: readonly string[], tableSize: number): HashTable {
  const m = nextPrime(Math.max(2, Math.floor(tableSize)));
  const table = new Int32Array(m).fill(-1);
  const n = keys.length;
  if (n > 0) {
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const key = keys[i] as string;
      offset[i] = hash53(key, 0) % m;
      skip[i] = (hash53(key, 1) % (m - 1)) + 1;
    }
    let filled = 0;
    for (;;) {
      for (let i = 0; i < n; i++) {
        // permutation[i][j] = (offset + j × skip) mod M, computed incrementally from the last slot tried.
        let c = ((offset[i] as number) + (next[i] as number) * (skip[i] as number)) % m;
        while ((table[c] as number) >= 0) {
          next[i] = (next[i] as number) + 1;
          c = ((offset[i] as number) + (next[i] as number) * (skip[i] as number)) % m;
        }
        table[c] = i;
        next[i] = (next[i] as number) + 1;
        filled += 1;
        if (filled === m) break;
      }
      if (filled === m) break;
    }
  }
  return {
    size: m,
    lookup(hash, usable) {
      if (n === 0) return undefined;
      const start = hash % m;
      // An unusable host's slot passes to the next slot's host (walking the table), as the ring does.
      for (let step = 0; step < m; step++) {
        const host = table[(start + step) % m] as number;
        if (usable(host)) return host;
      }
      return undefined;
    },
  };
}

/** The smallest prime >= n (trial division: table sizes are at most a few million, and built once per endpoint set). */
export function nextPrime(n: number): number {
  for (let c = Math.max(2, n); ; c++) {
    let prime = true;
    for (let d = 2; d * d <= c; d++) {
      if (c % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) return c;
  }
}
