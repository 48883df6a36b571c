import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';

/** How often the collector looks at the process's buffer memory; default of `intervalMs`. */
export const BUFFER_CHECK_INTERVAL_MS = 25;
/** Buffer memory allowed to pile up above what the last collection left; default of `garbageBytes`. */
export const BUFFER_GARBAGE_BYTES = 4 * 1024 * 1024;

/** V8's `gc` with options, as `--expose-gc` installs it. */
type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

export interface BufferCollectorOptions {
  /** Default BUFFER_CHECK_INTERVAL_MS (ms). */
  readonly intervalMs?: number;
  /** Default BUFFER_GARBAGE_BYTES (bytes). */
  readonly garbageBytes?: number;
  /** Bytes held by ArrayBuffers; default `process.memoryUsage().arrayBuffers` (~12 µs a call). */
  readonly arrayBufferBytes?: () => number;
  /** A collection; default V8's `gc({ type: 'major' })` when `--expose-gc` is on. */
  readonly collect?: () => void;
}

/**
 * Keeps the garbage of a bulk transfer small. Every DATA frame the waypoint receives becomes a new Buffer whose bytes
 * live outside V8's heap, and with HBONE's 1 MiB frames there are only a few small JS objects per MiB relayed: the
 * young generation, whose filling is what triggers a scavenge, hardly fills, so dropped body Buffers wait for V8's
 * external-memory limit (64 MB above the last collection) before anything frees them. Measured in a local cluster, a
 * 100 MiB upload then download through the waypoint: 19 scavenges in all and 71 MB of external memory still held
 * after it (waypoint/README.md "Memory"). Every `intervalMs` this looks at the buffer memory, and when it grew by
 * `garbageBytes` since the last collection it collects. A full collection, not a scavenge: chunks that sat in a
 * stream's queue across two scavenges are already in the old generation (forced scavenges alone left 37 MB held; full
 * ones 19 MB), and with a proxy's small heap it takes a few ms. A body buffered live (a window filled by a slow reader)
 * just raises the floor: the next collection waits for another `garbageBytes`. Without `--expose-gc` (and no
 * `collect`) it does nothing and says so. Returns a stop function; the timer never keeps the process alive.
 */
export function startBufferCollector(log: Logger, opts: BufferCollectorOptions = {}): () => void {
  const gc = (globalThis as { gc?: GcFunction }).gc;
  const collect = opts.collect ?? (gc === undefined ? undefined : () => gc({ type: 'major' }));
  if (collect === undefined) {
    log.info('node runs without --expose-gc: relayed body buffers wait for V8 to collect them');
    return () => undefined;
  }
  const bytes = opts.arrayBufferBytes ?? (() => process.memoryUsage().arrayBuffers);
  const garbageBytes = opts.garbageBytes ?? BUFFER_GARBAGE_BYTES;
  // What the last collection left (measured one tick later: the sweeper may free the backing stores concurrently).
  let floor: number | undefined;
  const timer = setInterval(() => {
    try {
      const now = bytes();
      if (floor === undefined || now < floor) floor = now;
      else if (now - floor >= garbageBytes) {
        collect();
        floor = undefined;
      }
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'buffer collection failed; not trying again');
      clearInterval(timer);
    }
  }, opts.intervalMs ?? BUFFER_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
