/**
 * Bytes relayed between two scavenges (minor GCs) we ask for. A relayed chunk is an ArrayBuffer whose JS handle is a
 * few dozen bytes: the young generation (2 MB semi-spaces in the proxies) fills only after ~1 GB of chunks, so V8 never
 * scavenges during bulk traffic. What grows instead is external memory, and past V8's external limit (64 MB above the
 * last GC) it starts a full mark-compact of the old generation to free them: under iperf3 a ztunnel ran ~6 of them per
 * second (--trace-gc: "finalize incremental marking", ~5 ms pause each plus ~30 ms of marking on a helper thread, on
 * a 2-core node). A scavenge frees the same chunks for ~0.5 ms, as they are dead by then.
 */
export const RELAYED_BYTES_PER_SCAVENGE = 16 * 1024 * 1024;

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
