import type { Duplex } from 'node:stream';
import { relayedBytes } from './young-buffers.ts';

/**
 * Bytes a pump lets pile up in its destination before it pauses the source. Above a socket's 16 KiB high-water mark on
 * purpose: a batch of HTTP/2 DATA frames decoded from one TLS read must reach the kernel in one writev, not stop at
 * the first 16 KiB. Memory stays bounded per connection, and an idle connection holds none of it.
 */
export const PUMP_MAX_BUFFERED = 256 * 1024;
/**
 * Chunks below this are written at once even when coalescing: a small chunk is a request or a reply someone waits
 * for; bulk transfers arrive in TLS-record-sized pieces (16 KiB less framing).
 */
export const COALESCE_MIN_CHUNK = 8 * 1024;

/** Bytes moved so far, read live (metrics at scrape time, the access log at close). */
export interface ByteCount {
  readonly bytes: number;
}

// One object per direction and the 'data'/'end' listeners: an idle tunnel is two of these, so the per-connection state
// is kept to fields instead of closures (issue 7: memory per idle connection).
class Pump implements ByteCount {
  bytes = 0;
  corked = false;
  paused = false;
  constructor(
    readonly src: Duplex,
    readonly dst: Duplex,
  ) {}
}

function flush(p: Pump): void {
  p.corked = false;
  if (!p.dst.destroyed) p.dst.uncork();
}

function endDst(p: Pump): void {
  if (!p.dst.destroyed && !p.dst.writableEnded) p.dst.end();
}

/**
 * Copies `src` into `dst` like `src.pipe(dst)` (backpressure; `dst.end()` after `src` ends, also when it had already
 * ended). Data for a destination that is destroyed or ended is dropped. Returns the live byte count.
 *
 * With `coalesce` (for an HTTP/2 stream into a socket), a bulk chunk (≥ COALESCE_MIN_CHUNK) corks the destination and
 * everything that arrives within the same event-loop turn leaves in a single writev when the turn's I/O callbacks are
 * done (setImmediate runs right after them). Each DATA
 * frame is a separate 'data' event, so with `pipe` a 64 KiB burst became four write syscalls. Not into an HTTP/2
 * stream: nghttp2 already batches its frames until its own setImmediate, and corking in front of it would push the
 * send to the next loop turn.
 */
export function pump(src: Duplex, dst: Duplex, coalesce = false): ByteCount {
  const p = new Pump(src, dst);
  src.on('data', (chunk: Buffer) => {
    p.bytes += chunk.length;
    relayedBytes(chunk.length);
    if (dst.destroyed || dst.writableEnded) return;
    if (coalesce && !p.corked && chunk.length >= COALESCE_MIN_CHUNK) {
      p.corked = true;
      dst.cork();
      setImmediate(flush, p);
    }
    dst.write(chunk);
    if (!p.paused && dst.writableLength >= PUMP_MAX_BUFFERED) {
      p.paused = true;
      src.pause();
      dst.once('drain', () => {
        p.paused = false;
        src.resume();
      });
    }
  });
  // 'end' and 'close' fire once: on() spares the wrapper once() allocates per connection.
  if (src.readableEnded) process.nextTick(endDst, p);
  else src.on('end', () => endDst(p));
  return p;
}
