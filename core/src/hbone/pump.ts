import type { Duplex } from 'node:stream';

/**
 * Bytes a pump lets pile up in its destination before it pauses the source. Above a socket's 16 KiB high-water mark on
 * purpose: a batch of HTTP/2 DATA frames decoded from one TLS read must reach the kernel in one writev, not stop at
 * the first 16 KiB. Memory stays bounded per connection, and an idle connection holds none of it.
 */
export const PUMP_MAX_BUFFERED = 256 * 1024;

/**
 * Copies `src` into `dst` like `src.pipe(dst)` (backpressure; `dst.end()` after `src` ends) but coalesces the writes:
 * every chunk that arrives within one event-loop turn is corked and leaves in a single writev when the turn's I/O
 * callbacks are done (setImmediate runs right after them, which is where node:http2 flushes its own frames too).
 * Each DATA frame is a separate 'data' event, so with `pipe` a 64 KiB burst became four write syscalls.
 */
export function pump(src: Duplex, dst: Duplex): void {
  let corked = false;
  let paused = false;
  const flush = (): void => {
    corked = false;
    if (!dst.destroyed) dst.uncork();
  };
  const resume = (): void => {
    paused = false;
    src.resume();
  };
  src.on('data', (chunk: Buffer) => {
    if (dst.destroyed || dst.writableEnded) return;
    if (!corked) {
      corked = true;
      dst.cork();
      setImmediate(flush);
    }
    dst.write(chunk);
    if (!paused && dst.writableLength >= PUMP_MAX_BUFFERED) {
      paused = true;
      src.pause();
      dst.once('drain', resume);
    }
  });
  const end = (): void => {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  };
  // As pipe(): a source that already ended (its 'end' came before the pump) still ends the destination.
  if (src.readableEnded) process.nextTick(end);
  else src.once('end', end);
}
