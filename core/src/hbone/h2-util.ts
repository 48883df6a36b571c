import { isIP } from 'node:net';
import { constants, type Http2Session, type Http2Stream, type Settings } from 'node:http2';
import type { Duplex } from 'node:stream';
import { HboneError } from './errors.ts';
import { pump, type ByteCount } from './pump.ts';

/**
 * HTTP/2 settings of HBONE on both ends (reference istio-ambient.md §1 table; DESIGN §3). The 64 KiB defaults cap a
 * stream near 200 MB/s (node-facts); these about double it.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * SETTINGS_MAX_FRAME_SIZE both ends advertise (ztunnel: 1 MiB). The peer may then send a whole socket read as one DATA
 * frame: one 'data' event and one write upstream instead of one per 16 KiB.
 */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Node's per-session buffer allowance, in MB (default 10); the large windows need more. */
export const MAX_SESSION_MEMORY_MB = 64;

export function hboneSettings(extra: Settings): Settings {
  return { initialWindowSize: STREAM_WINDOW_BYTES, maxFrameSize: MAX_FRAME_BYTES, enablePush: false, ...extra };
}

/** Strips the IPv4-mapped IPv6 prefix Node reports on dual-stack sockets, so `::ffff:10.0.0.1` equals `10.0.0.1`. */
export function unmapIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** `ip:port`, bracketing IPv6 (RFC 3986 authority form, what `:authority` and URLs need). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses an `ip:port` / `[ipv6]:port` authority; undefined for anything else (hostnames are not served here). */
export function parseIpAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(authority);
  if (m === null) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (isIP(host) === 0 || port < 1 || port > 65535) return undefined;
  return { host, port };
}

type WriteChunk = { chunk: unknown; encoding: BufferEncoding };
// What Writable itself passes with Buffer chunks; not in @types/node's BufferEncoding.
const BUFFER = 'buffer' as BufferEncoding;

function toBuffer(chunk: unknown, encoding: BufferEncoding): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('HBONE streams carry bytes only');
}

type WriteFn = (chunk: unknown, encoding: BufferEncoding, cb: (error?: Error | null) => void) => void;
type WritevFn = (chunks: WriteChunk[], cb: (error?: Error | null) => void) => void;
interface GuardedStream {
  _write: WriteFn;
  _writev?: WritevFn | null;
}

// Shared by every guarded stream (no closure or bound function per tunnel): they call the stream class's own methods.
function guardedWrite(this: Http2Stream, chunk: unknown, encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
  (Object.getPrototypeOf(this) as GuardedStream)._write.call(this, toBuffer(chunk, encoding), BUFFER, cb);
}

function guardedWritev(this: Http2Stream, chunks: WriteChunk[], cb: (error?: Error | null) => void): void {
  const bufs: WriteChunk[] = [];
  for (const { chunk, encoding } of chunks) {
    const buf = toBuffer(chunk, encoding);
    if (buf.length > 0) bufs.push({ chunk: buf, encoding: BUFFER });
  }
  if (bufs.length === 0) {
    cb();
    return;
  }
  // Node's writevGeneric takes the all-Buffers fast path only when the array says so.
  (Object.getPrototypeOf(this) as GuardedStream)._writev?.call(this, Object.assign(bufs, { allBuffers: true }), cb);
}

/**
 * Guards an Http2Stream against a Node bug (20, 22, 24; node-facts "HTTP inside HBONE streams"): a batched write
 * (`_writev`) holding a string and ending in an empty chunk — what `res.end(body)` produces — frees the string before
 * nghttp2 sends it, and the peer receives garbage. After this, the stream's handle only ever sees Buffers: strings
 * are encoded here and zero-length chunks are dropped.
 */
export function buffersOnly(stream: Http2Stream): void {
  const s = stream as unknown as GuardedStream;
  s._write = guardedWrite;
  if (typeof (Object.getPrototypeOf(stream) as GuardedStream)._writev === 'function') s._writev = guardedWritev;
}

/**
 * PING keep-alive (ztunnel: every 10 s, 20 s timeout): a peer that stops answering is torn down, so tunnels on a dead
 * path fail instead of hanging. Returns a stop function; stopping is also automatic on session close.
 */
export function keepAlive(session: Http2Session, intervalMs: number, timeoutMs: number, onDead: (err: HboneError) => void): () => void {
  let deadline: NodeJS.Timeout | undefined;
  const tick = setInterval(() => {
    if (deadline !== undefined || session.destroyed || session.closed) return;
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      deadline = undefined;
      if (err !== null && !session.destroyed) session.destroy(err);
    });
    if (!sent) return;
    deadline = setTimeout(() => {
      deadline = undefined;
      onDead(new HboneError('HBONE_PING_TIMEOUT', `peer did not answer PING within ${timeoutMs} ms`));
    }, timeoutMs);
  }, intervalMs);
  const stop = (): void => {
    clearInterval(tick);
    clearTimeout(deadline);
    deadline = undefined;
  };
  session.once('close', stop);
  return stop;
}

/** Live byte counts of a tunnel, for metrics while it is open. */
export interface RelayCounts {
  /** Read from the HBONE stream and written upstream. */
  readonly fromTunnel: ByteCount;
  /** Read upstream and sent into the HBONE stream. */
  readonly toTunnel: ByteCount;
}

/** What one tunnel moved, for the access log. */
export interface RelayResult {
  /** Bytes read from the HBONE stream and written upstream. */
  readonly bytesFromTunnel: number;
  /** Bytes read upstream and sent into the HBONE stream. */
  readonly bytesToTunnel: number;
  readonly error: Error | undefined;
}

function resetSocket(s: Duplex): void {
  // RFC 9113 §8.5: a CONNECT stream reset must become a TCP RST upstream, when upstream is a TCP socket.
  // Not after end(): libuv refuses to reset a socket being shut down, and Node (20) then never emits 'close'.
  const maybe = s as Duplex & { resetAndDestroy?: () => void };
  if (typeof maybe.resetAndDestroy === 'function' && !s.destroyed && !s.writableEnded) maybe.resetAndDestroy();
  else s.destroy();
}

/**
 * Copies bytes both ways between an HBONE stream and its upstream, with half-close carried both ways: the peer's
 * END_STREAM ends upstream's write side, upstream's FIN ends the stream. Errors follow RFC 9113 §8.5: an upstream error
 * resets the stream with CONNECT_ERROR; a stream reset resets upstream. `done` runs once, when both are closed.
 * `upstream` must be half-open capable (`allowHalfOpen: true` for sockets). Returns the live byte counts.
 */
export function relay(tunnel: Http2Stream, upstream: Duplex, done: (r: RelayResult) => void): RelayCounts {
  const counts = { fromTunnel: pump(tunnel, upstream, true), toTunnel: pump(upstream, tunnel) };
  let error: Error | undefined;
  let open = 2;
  const closed = (): void => {
    open -= 1;
    if (open === 0) done({ bytesFromTunnel: counts.fromTunnel.bytes, bytesToTunnel: counts.toTunnel.bytes, error });
  };
  tunnel.on('error', (err: Error) => {
    error ??= err;
  });
  upstream.on('error', (err: Error) => {
    error ??= err;
  });
  tunnel.on('close', () => {
    const clean = tunnel.rstCode === constants.NGHTTP2_NO_ERROR && tunnel.writableFinished;
    if (!clean) resetSocket(upstream);
    // Peer said NO_ERROR after our reply but never sent END_STREAM: nothing more will come, so finish upstream.
    else if (!tunnel.readableEnded && !upstream.writableEnded) upstream.end();
    closed();
  });
  upstream.on('close', () => {
    const clean = upstream.readableEnded && upstream.writableFinished;
    if (!clean && !tunnel.closed) tunnel.close(constants.NGHTTP2_CONNECT_ERROR);
    closed();
  });
  return counts;
}
