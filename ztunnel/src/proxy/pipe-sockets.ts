import type { Socket } from 'node:net';
import { pump, type ByteCount } from '@ambit/core/hbone';

export interface PipeResult {
  /** Bytes read from `a` and written to `b`. */
  readonly bytesAtoB: number;
  readonly bytesBtoA: number;
  readonly error: Error | undefined;
}

function reset(s: Socket): void {
  // A reset must stay a reset on the other side; not after end(): libuv refuses to reset a socket being shut down.
  if (!s.destroyed && !s.writableEnded) s.resetAndDestroy();
  else s.destroy();
}

/**
 * Copies bytes both ways between two half-open capable TCP sockets (plain passthrough, inbound plaintext): a FIN
 * from one side ends the other's write side only, so a client that shuts down its write side still gets the whole
 * reply; an error or reset on one side resets the other. `done` runs once, when both are closed. Returns the live
 * byte counts.
 */
export function pipeSockets(a: Socket, b: Socket, done: (r: PipeResult) => void): { readonly aToB: ByteCount; readonly bToA: ByteCount } {
  const counts = { aToB: pump(a, b), bToA: pump(b, a) };
  let error: Error | undefined;
  let open = 2;
  const closed = (): void => {
    open -= 1;
    if (open === 0) done({ bytesAtoB: counts.aToB.bytes, bytesBtoA: counts.bToA.bytes, error });
  };
  a.on('error', (err) => {
    error ??= err;
    reset(b);
  });
  b.on('error', (err) => {
    error ??= err;
    reset(a);
  });
  a.on('close', (hadError) => {
    if (hadError || !(a.readableEnded && a.writableFinished)) reset(b);
    closed();
  });
  b.on('close', (hadError) => {
    if (hadError || !(b.readableEnded && b.writableFinished)) reset(a);
    closed();
  });
  return counts;
}
