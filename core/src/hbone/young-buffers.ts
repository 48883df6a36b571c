/**
 * Bytes relayed between two scavenges (minor GCs) we ask for. A relayed chunk is an ArrayBuffer whose JS handle is a
 * few dozen bytes: the young generation (2 MB semi-spaces in the proxies) fills only after ~1 GB of chunks, so without
 * help V8 never scavenges during bulk traffic and the chunks pile up as external memory. V8 counts the external bytes
 * allocated since its last mark-compact against the old generation's limit (Heap::OldGenerationSpaceAvailable, with
 * --no-external-memory-accounted-in-global-limit, the default), and that limit sits only ~8-10 MB above a proxy's
 * ~13 MB of live objects. So whenever external memory swings further than that between two scavenges, V8 starts an
 * incremental mark-compact ("Start (allocation limit)" in --trace-incremental-marking, at 13 of 23 MB used).
 *
 * At 16 MiB per scavenge the swing was just over the limit's headroom: whether a ztunnel fell into a mark-compact
 * every ~90 ms depended on where external memory stood at the last one, and after a quiet spell (the memory trim's full
 * GC leaves ~2 MB external) it did, and stayed there: ~11 mark-compacts per second, ~100 ms/s of pauses plus ~280 ms/s
 * of marking on a helper thread, single-stream iperf3 1.6-1.9 instead of 2.8-3.4 Gbit/s (the l4 bench's Ambit
 * throughput, which runs after such spells). At 4 MiB the swing stays well inside the headroom: 0-2 mark-compacts per
 * 10 s, also right after a quiet spell, for ~90 scavenges per second at 3 Gbit/s (~0.4 ms each). Not smaller: a chunk
 * still in flight at two scavenges is promoted, and then only a mark-compact frees it.
 */
export const RELAYED_BYTES_PER_SCAVENGE = 4 * 1024 * 1024;

type Gc = (options: { type: 'minor'; execution: 'sync' }) => void;
// Present when the process runs with --expose-gc (the proxies' image flags); without it this is a byte count only.
const gc = (globalThis as { gc?: Gc }).gc;
let sinceScavenge = 0;

/** Counts `bytes` of relayed chunks; every RELAYED_BYTES_PER_SCAVENGE of them, a scavenge. */
export function relayedBytes(bytes: number): void {
  sinceScavenge += bytes;
  if (sinceScavenge < RELAYED_BYTES_PER_SCAVENGE) return;
  sinceScavenge = 0;
  gc?.({ type: 'minor', execution: 'sync' });
}
