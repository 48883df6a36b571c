import { Readable } from 'node:stream';

/**
 * A request body that can be sent again for a retry, within a bound. The first try streams the body from the client
 * while the first `limitBytes` are kept; while the whole body fits, every later try replays the kept bytes and follows
 * the live ones. Past the bound the copy is dropped and the request can no longer be retried (Envoy does the same
 * with its per-request buffer limit): a large upload is streamed once and never held in memory.
 */
export class ReplayBody {
  #chunks: Buffer[] = [];
  #kept = 0;
  #overflow = false;
  #ended = false;
  #error: Error | undefined;
  #reader: Readable | undefined;
  #bytes = 0;
  readonly #source: Readable;
  readonly #limitBytes: number;

  constructor(source: Readable, limitBytes: number) {
    this.#source = source;
    this.#limitBytes = limitBytes;
    source.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
      if (!this.#overflow) {
        if (this.#kept + chunk.length > limitBytes) {
          this.#overflow = true;
          this.#chunks = [];
        } else {
          this.#chunks.push(chunk);
          this.#kept += chunk.length;
        }
      }
      const reader = this.#reader;
      // Without a reader (between tries) the source waits; the kept copy covers what was read if it fits.
      if (reader === undefined || !reader.push(chunk)) source.pause();
    });
    source.once('end', () => {
      this.#ended = true;
      this.#reader?.push(null);
    });
    source.once('error', (err: Error) => {
      this.#error = err;
      this.#reader?.destroy(err);
    });
    source.pause();
  }

  /** Bytes read from the client so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether a new try can send the body from its start. */
  replayable(): boolean {
    return !this.#overflow || this.#reader === undefined;
  }

  /** Whether the client's whole body has arrived. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The body for a new try: replays what was kept, then follows the client. The previous reader is abandoned. */
  open(): Readable {
    const previous = this.#reader;
    const reader = new Readable({
      read: () => {
        if (this.#reader === reader && !this.#ended) this.#source.resume();
      },
    });
    this.#reader = reader;
    if (previous !== undefined) {
      for (const c of this.#chunks) reader.push(c);
    }
    if (this.#error !== undefined) reader.destroy(this.#error);
    else if (this.#ended) reader.push(null);
    return reader;
  }

  /** The kept body when it is complete and within the bound (sent as one buffer, e.g. on a retry). */
  whole(): Buffer | undefined {
    return this.#ended && !this.#overflow ? Buffer.concat(this.#chunks, this.#kept) : undefined;
  }

  /** Limit in bytes (for logs). */
  get limitBytes(): number {
    return this.#limitBytes;
  }
}
