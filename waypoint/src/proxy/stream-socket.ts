import type { Duplex } from 'node:stream';

/** Addresses an HBONE stream stands for: the original client (downstream) and the original destination. */
export interface StreamAddresses {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/**
 * Makes an HTTP/2 CONNECT stream pass as a socket for Node's HTTP servers (node-facts "HTTP inside HBONE streams"):
 * Http2Stream lacks the addresses, setNoDelay/setKeepAlive (called by http code: an uncaught TypeError otherwise),
 * ref/unref and destroySoon. The addresses are the tunnel's, so request logs and `req.socket` show the real client.
 */
export function asSocket<T extends Duplex>(stream: T, addresses: StreamAddresses): T {
  const s = stream as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(addresses)) Object.defineProperty(stream, name, { value, configurable: true });
  const noop = (): T => stream;
  for (const name of ['setNoDelay', 'setKeepAlive', 'ref', 'unref']) if (typeof s[name] !== 'function') s[name] = noop;
  if (typeof s.destroySoon !== 'function') {
    s.destroySoon = () => {
      if (stream.writable) stream.end(() => stream.destroy());
      else stream.destroy();
    };
  }
  return stream;
}
