import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { test } from 'node:test';
import { COALESCE_MIN_CHUNK, pump, PUMP_MAX_BUFFERED } from './pump.ts';

/** A destination that records how its data arrived: one entry per _write or _writev call, completed when told. */
class Recorder extends Duplex {
  readonly calls: Buffer[][] = [];
  private pending: (() => void)[] = [];
  constructor(private readonly manual = false) {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.calls.push([chunk]);
    this.done(cb);
  }
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.calls.push(chunks.map((c) => c.chunk));
    this.done(cb);
  }
  private done(cb: () => void): void {
    if (this.manual) this.pending.push(cb);
    else cb();
  }
  /** Completes every write made so far, as a socket does once the kernel took the bytes. */
  flush(): void {
    const p = this.pending;
    this.pending = [];
    for (const cb of p) cb();
  }
  bytes(): number {
    return this.calls.flat().reduce((n, b) => n + b.length, 0);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('coalescing: chunks that arrive in one event-loop turn leave in one writev', async () => {
  const src = new PassThrough();
  const dst = new Recorder();
  pump(src, dst, true);
  for (let i = 0; i < 4; i++) src.write(Buffer.alloc(16 * 1024, i));
  await tick();
  await tick();
  assert.equal(dst.calls.length, 1, `writes: ${dst.calls.map((c) => c.length).join(', ')}`);
  assert.equal(dst.calls[0]?.length, 4);
  assert.equal(dst.bytes(), 64 * 1024);
  src.write(Buffer.alloc(COALESCE_MIN_CHUNK));
  await tick();
  await tick();
  assert.equal(dst.calls.length, 2, 'the next turn is a new write');
});

test('coalescing leaves small chunks (requests and replies) unbatched', async () => {
  const src = new PassThrough();
  const dst = new Recorder();
  pump(src, dst, true);
  src.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  await new Promise((resolve) => process.nextTick(resolve));
  assert.equal(dst.calls.length, 1, 'written before the loop turn ends');
});

test('without coalescing every chunk is written as it comes', async () => {
  const src = new PassThrough();
  const dst = new Recorder();
  pump(src, dst);
  for (let i = 0; i < 3; i++) src.write(Buffer.alloc(1024, i));
  await tick();
  assert.equal(dst.calls.length, 3);
});

test('the end of the source ends the destination after its data', async () => {
  const src = new PassThrough();
  const dst = new Recorder();
  pump(src, dst);
  src.end(Buffer.from('last words'));
  await once(dst, 'finish');
  assert.equal(Buffer.concat(dst.calls.flat()).toString(), 'last words');
});

test('a source that already ended before the pump still ends the destination (as pipe does)', async () => {
  const src = new PassThrough();
  src.end();
  src.resume();
  await once(src, 'end');
  assert.equal(src.readableEnded, true);
  const dst = new Recorder();
  pump(src, dst);
  await once(dst, 'finish');
  assert.equal(dst.writableEnded, true);
});

test('a destination holding PUMP_MAX_BUFFERED pauses the source until it drains', async () => {
  const src = new PassThrough({ highWaterMark: 1024 });
  const dst = new Recorder(true);
  pump(src, dst, true);
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < (PUMP_MAX_BUFFERED / block.length) * 2; i++) src.write(block);
  await tick();
  await tick();
  assert.equal(src.isPaused(), true, 'source paused');
  assert.ok(
    dst.writableLength >= PUMP_MAX_BUFFERED && dst.writableLength < PUMP_MAX_BUFFERED + 2 * block.length,
    `buffered ${dst.writableLength}`,
  );
  while (dst.bytes() < PUMP_MAX_BUFFERED * 2) {
    dst.flush();
    await tick();
  }
  dst.flush();
  assert.equal(src.isPaused(), false, 'resumed after drain');
  assert.equal(dst.bytes(), PUMP_MAX_BUFFERED * 2);
});

test('data for a destroyed destination is dropped, not written', async () => {
  const src = new PassThrough();
  const dst = new Recorder();
  pump(src, dst);
  dst.destroy();
  src.write(Buffer.from('x'));
  await tick();
  await tick();
  assert.equal(dst.calls.length, 0);
});
