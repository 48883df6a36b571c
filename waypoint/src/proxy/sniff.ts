import type { Readable } from 'node:stream';

/**
 * The protocol found. When the client ended its side before a decision (a short message and FIN: always `tcp`), what it
 * sent cannot be put back into the ended stream and is handed over as `leftover` instead.
 */
export interface Sniffed {
  readonly protocol: 'http1' | 'h2' | 'tcp';
  readonly leftover: Buffer | undefined;
}

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An HTTP/1.x request line (RFC 9112 §3): method token, target, version. */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ \r\n]+ HTTP\/1\.[01]\r?\n/;
const METHOD_PREFIX = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}( |$)/;
/** A request line longer than this is not waited for (what is read so far decides). */
const MAX_SNIFF_BYTES = 8 * 1024;

/**
 * Protocol detection for a port with no declared protocol, as Envoy's http_inspector: the h2 preface or an HTTP/1.x
 * request line means HTTP; anything else, or nothing within `deadlineMs`, is TCP. What was read is put back, so the
 * chosen handler sees the stream from its first byte. A server-first protocol (MySQL, SMTP) sends nothing until the
 * server speaks, so it pays the deadline once per connection.
 */
export function sniffProtocol(stream: Readable, deadlineMs: number): Promise<Sniffed> {
  return new Promise((resolve) => {
    let seen: Buffer = Buffer.alloc(0);
    const finish = (protocol: Sniffed['protocol'], ended: boolean): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.pause();
      if (ended) {
        resolve({ protocol: 'tcp', leftover: seen });
        return;
      }
      if (seen.length > 0) stream.unshift(seen);
      resolve({ protocol, leftover: undefined });
    };
    const decide = (final: boolean): Sniffed['protocol'] | undefined => {
      const n = Math.min(seen.length, H2_PREFACE.length);
      if (n > 0 && seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return n === H2_PREFACE.length ? 'h2' : final ? 'tcp' : undefined;
      const text = seen.toString('latin1', 0, Math.min(seen.length, MAX_SNIFF_BYTES));
      if (REQUEST_LINE.test(text)) return 'http1';
      if (!METHOD_PREFIX.test(text) || final || seen.length >= MAX_SNIFF_BYTES) return 'tcp';
      return undefined;
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const result = decide(false);
      if (result !== undefined) finish(result, false);
    };
    const onEnd = (): void => finish('tcp', true);
    const timer = setTimeout(() => finish(seen.length === 0 ? 'tcp' : (decide(true) ?? 'tcp'), false), deadlineMs);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
  });
}
