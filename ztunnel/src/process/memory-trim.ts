import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { keepFreedMemory, trimMemory } from '../native/index.ts';

/** How often the process looks for memory to hand back. */
export const MEMORY_TRIM_INTERVAL_MS = 10_000;
/** Below this share of one core over the last interval the process counts as quiet. */
const QUIET_CPU_SHARE = 0.01;
/** Buffers (ArrayBuffer backing stores) held beyond this while quiet are worth a collection. */
const BUFFER_BYTES_WORTH_A_GC = 4 * 1024 * 1024;
/**
 * Under load, RSS grown by more than this since the last trim is worth a trim. A trim costs: glibc makes one madvise
 * per free run of pages, and under load (1000 rps) trimming every interval was 35–56 calls and several ms of blocked
 * event loop each time (bench l4-tail). A bulk transfer during load grows RSS by ~20 MB of buffers: that is still
 * trimmed. (Not malloc's own count of free bytes: mallinfo2 walks every bin of every arena, and after a bulk transfer
 * that walk alone blocked the event loop for ~20 ms.)
 */
export const RSS_GROWTH_WORTH_A_TRIM_UNDER_LOAD = 16 * 1024 * 1024;

/**
 * glibc's thresholds while the trim runs: blocks up to 32 MiB (its maximum) come from the heap instead of fresh mmap
 * pages, and free() never shrinks the heap by itself (native/memory.cc says why).
 */
const HEAP_BLOCKS_UP_TO = 32 * 1024 * 1024;
const NO_AUTOMATIC_TRIM_BELOW = 1024 * 1024 * 1024;

type GcFunction = () => void;

/**
 * Gives memory back after traffic, as a browser's memory reducer does. One bulk transfer leaves ~20 MB of read
 * buffers behind (measured: RSS 69 → 90 MB after a 5 s iperf3, V8's own heap unchanged): first as garbage Buffers that
 * V8 has no reason to collect in a process that went quiet, then as free but fragmented glibc heap that the automatic
 * top-of-heap trim cannot release. Every interval: when the process was quiet and still holds buffers, a full GC (only
 * when `--expose-gc` is on; a pause nobody waits on); then malloc_trim(0) (native/memory.cc; ~0.1 ms per MB freed).
 * While busy, no GC (it would pause traffic) and a trim only when RSS grew by more than `underLoadGrowth` since the
 * last trim, so RSS stays down under load without a stall every interval for a few pages. From the start free() hands
 * nothing back by itself: under bulk traffic glibc's own mmap and heap shrinking made every large block fresh pages
 * again (page faults were 11 % of a ztunnel's CPU under iperf3); this timer is the one place memory goes back, when it
 * is worth it. Returns a stop function; the timer never keeps the process alive.
 */
export function startMemoryTrim(
  log: Logger,
  intervalMs = MEMORY_TRIM_INTERVAL_MS,
  underLoadGrowth = RSS_GROWTH_WORTH_A_TRIM_UNDER_LOAD,
): () => void {
  if (!keepFreedMemory(HEAP_BLOCKS_UP_TO, NO_AUTOMATIC_TRIM_BELOW))
    log.warn('malloc thresholds not taken; free() keeps trimming by itself');
  const gc = (globalThis as { gc?: GcFunction }).gc;
  let cpu = process.cpuUsage();
  // RSS right after the last trim (reading it is one small /proc read).
  let trimmedRss = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const quiet = (used.user + used.system) / 1000 < intervalMs * QUIET_CPU_SHARE;
    const started = performance.now();
    try {
      const collected = quiet && gc !== undefined && process.memoryUsage().arrayBuffers > BUFFER_BYTES_WORTH_A_GC;
      if (collected) gc();
      const grown = process.memoryUsage.rss() - trimmedRss;
      const trim = quiet || grown > underLoadGrowth;
      const released = trim && trimMemory();
      if (trim) trimmedRss = process.memoryUsage.rss();
      log.trace({ quiet, collected, grown, trimmed: trim, released, ms: performance.now() - started }, 'memory trim');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'memory trim failed; not trying again');
      clearInterval(timer);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
