import type { LoadBalancer } from '@ambit/core/traffic';
import { buildMaglev } from './maglev.ts';
import { buildRingHash } from './ring-hash.ts';

/** A consistent-hash lookup structure over a fixed list of hosts (indexes into the list it was built from). */
export interface HashTable {
  /** Points on the ring / slots of the table. */
  readonly size: number;
  /**
   * The host for `hash` (a hash53 value); when `usable` refuses it, the next one along the ring / table that it
   * accepts; undefined when it accepts none.
   */
  lookup(hash: number, usable: (host: number) => boolean): number | undefined;
}

/** Builds the structure `consistentHash.algorithm` names over `keys` (the hosts' `ip:port`, in endpoint order). */
export function buildHashTable(
  algorithm: Extract<LoadBalancer, { kind: 'consistentHash' }>['algorithm'],
  keys: readonly string[],
): HashTable {
  return algorithm.type === 'MAGLEV' ? buildMaglev(keys, algorithm.tableSize) : buildRingHash(keys, algorithm.minimumRingSize);
}
