import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { keepFreedMemory, mallocFreeBytes, trimMemory } from '../native/index.ts';

/** How often the process looks for memory to hand back. */
export const MEMORY_TRIM_INTERVAL_MS = 10_000;
/** Below this share of one core over the last interval the process counts as quiet. */
const QUIET_CPU_SHARE = 0.01;
/** Buffers (ArrayBuffer backing stores) held beyond this while quiet are worth a collection. */
const BUFFER_BYTES_WORTH_A_GC = 4 * 1024 * 1024;
/**
 * Under load, free malloc memory beyond this is worth a trim. Below it a trim hands back little and still costs: glibc
 * makes one madvise per free run of pages, and under load (1000 rps) that was 35–56 calls and several ms of blocked
 * event loop every interval (bench l4-tail). A bulk transfer during load leaves tens of MB free: that is trimmed (3.5–
 * 4.5 ms per trim under iperf3). Free bytes, not RSS growth: RSS stays at its peak after a transfer whatever is free.
 */
export const FREE_BYTES_WORTH_A_TRIM_UNDER_LOAD = 8 * 1024 * 1024;

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
 * While busy, no GC (it would pause traffic) and a trim only when malloc holds more than `underLoadBytes` free, so RSS
 * stays down under load without a stall every interval for a few pages. From the start free() hands
 * nothing back by itself: under bulk traffic glibc's own mmap and heap shrinking made every large block fresh pages
 * again (page faults were 11 % of a ztunnel's CPU under iperf3); this timer is the one place memory goes back, when it
 * is worth it. Returns a stop function; the timer never keeps the process alive.
 */
export function startMemoryTrim(
  log: Logger,
  intervalMs = MEMORY_TRIM_INTERVAL_MS,
  underLoadBytes = FREE_BYTES_WORTH_A_TRIM_UNDER_LOAD,
): () => void {
  if (!keepFreedMemory(HEAP_BLOCKS_UP_TO, NO_AUTOMATIC_TRIM_BELOW))
    log.warn('malloc thresholds not taken; free() keeps trimming by itself');
  const gc = (globalThis as { gc?: GcFunction }).gc;
  let cpu = process.cpuUsage();
  const timer = setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const quiet = (used.user + used.system) / 1000 < intervalMs * QUIET_CPU_SHARE;
    const started = performance.now();
    try {
      const collected = quiet && gc !== undefined && process.memoryUsage().arrayBuffers > BUFFER_BYTES_WORTH_A_GC;
      if (collected) gc();
      const free = mallocFreeBytes();
      const trim = quiet || free > underLoadBytes;
      const released = trim && trimMemory();
      log.trace({ quiet, collected, free, trimmed: trim, released, ms: performance.now() - started }, 'memory trim');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'memory trim failed; not trying again');
      clearInterval(timer);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
