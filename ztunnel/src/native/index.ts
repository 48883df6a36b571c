// Sockets inside a pod's network namespace (DESIGN.md §4). The addon creates the socket inside the namespace and
// hands back an fd; everything here only adopts fds into Node. Never call `net.connect()` or `server.listen(port,
// host)` for pod traffic: Node creates those sockets a tick later, in ztunnel's own namespace.
import assert from 'node:assert';
import net from 'node:net';
import { AmbitError } from '@ambit/core';
import { nativeBinding, type CreateSocketOptions, type SocketAddress } from './addon.ts';

export {
  isNativeSystemError,
  NativeAddonError,
  type BindSpec,
  type CreateSocketOptions,
  type ListenSpec,
  type NativeSystemError,
  type SocketAddress,
} from './addon.ts';

/** Opens a namespace handle (`/run/netns/NAME` or `/proc/PID/ns/net`), O_RDONLY|O_CLOEXEC. Close it with closeFd. */
export function openNetns(path: string): number {
  return nativeBinding().openNetns(path);
}

export function closeFd(fd: number): void {
  nativeBinding().closeFd(fd);
}

/** Creates a non-blocking TCP socket in `netnsFd`'s namespace (see CreateSocketOptions) and returns its fd. */
export function createSocket(options: CreateSocketOptions): number {
  return nativeBinding().createSocket(options);
}

export function setMark(fd: number, mark: number): void {
  nativeBinding().setMark(fd, mark);
}

/** SO_MARK of a socket (tests, diagnostics). */
export function getMark(fd: number): number {
  return nativeBinding().getMark(fd);
}

/** The pre-redirect destination of an accepted connection (conntrack's SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
export function getOriginalDst(fd: number): SocketAddress {
  return nativeBinding().getOriginalDst(fd);
}

/** Gives freed malloc memory back to the OS (see native/memory.cc); true when some was released. */
export function trimMemory(): boolean {
  return nativeBinding().trimMemory();
}

/** Bytes free in malloc's arenas (see native/memory.cc). */
export function mallocFreeBytes(): number {
  return nativeBinding().mallocFreeBytes();
}

/**
 * From now on free() keeps what it frees (blocks up to `mmapThresholdBytes` come from the heap, the heap shrinks only
 * past `trimThresholdBytes` of free top): memory goes back only through trimMemory (see native/memory.cc).
 */
export function keepFreedMemory(mmapThresholdBytes: number, trimThresholdBytes: number): boolean {
  return nativeBinding().keepFreedMemory(mmapThresholdBytes, trimThresholdBytes);
}

/**
 * The fd under a connected or accepted net.Socket. Node keeps it on the undocumented `_handle.fd` (Unix only); it is
 * read here and nowhere else so a Node change breaks one place.
 */
export function socketFdOf(socket: net.Socket): number {
  // Narrow view of Node's internal TCPWrap: only `fd` is used.
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new AmbitError('SOCKET_WITHOUT_FD', 'socket has no file descriptor (closed, or not a TCP socket)');
  return fd;
}

export interface ListenInNetnsOptions {
  /** IP literal; default `0.0.0.0`. An IPv6 literal makes an IPv6 socket (`::` is dual-stack unless the pod's sysctl says otherwise). */
  readonly host?: string;
  /** 0 for an ephemeral port (read it back with `server.address()`). */
  readonly port: number;
  /** Default 511. */
  readonly backlog?: number;
  /** SO_REUSEPORT. Default false. */
  readonly reusePort?: boolean;
  /** IP_TRANSPARENT. Default false. */
  readonly transparent?: boolean;
  /** SO_MARK on the listener, inherited by accepted sockets. Default: none. */
  readonly mark?: number;
}

/**
 * A net.Server listening inside the namespace, with `allowHalfOpen` (a proxy forwards each direction's FIN on its
 * own) and TCP_NODELAY on every accepted socket (a proxy must not add Nagle's delay to what the app already sent). The socket is bound and listening when this returns; bind errors (EADDRINUSE, …) throw synchronously, and
 * 'listening' fires on the next tick as for any server.
 */
export function listenInNetns(netnsFd: number, options: ListenInNetnsOptions): net.Server {
  const host = options.host ?? '0.0.0.0';
  const backlog = options.backlog ?? 511;
  const fd = createSocket({
    netnsFd,
    family: familyOf(host),
    listen: {
      address: host,
      port: options.port,
      backlog,
      ...(options.reusePort !== undefined && { reusePort: options.reusePort }),
      ...(options.transparent !== undefined && { transparent: options.transparent }),
    },
    ...(options.mark !== undefined && { mark: options.mark }),
  });
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  try {
    // Node calls listen(2) again with this backlog; pass ours so it is not reset to 511.
    server.listen({ fd, backlog });
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return server;
}

export interface ConnectFromNetnsOptions {
  /** Destination IP literal (no DNS: the socket's family must be known before it is created). */
  readonly host: string;
  readonly port: number;
  /** SO_MARK; ztunnel passes 0x539 so the pod's capture rules let its own traffic through. Default: none. */
  readonly mark?: number;
  /** Source IP literal to bind (port 0). Default: the kernel's choice in that namespace. */
  readonly localAddress?: string;
  /** IP_TRANSPARENT, to bind a `localAddress` that is not local (e.g. the client pod's IP). Default false. */
  readonly transparent?: boolean;
}

/**
 * A connected net.Socket (`allowHalfOpen`, TCP_NODELAY) whose socket lives in the namespace. Rejects with Node's connect error
 * (`ECONNREFUSED`, `ETIMEDOUT`, …); the socket is destroyed then.
 *
 * How: the addon creates an unconnected socket inside the namespace, `new net.Socket({ fd })` adopts it, and
 * `socket.connect()` is called in the same tick. The ordering matters on Node 20: adopting an fd starts reading at
 * once, and an unconnected TCP socket polls as hung up, so if the event loop polls before connect(2) has run the
 * socket fails with ENOTCONN and is destroyed. Node's connect for an IP literal runs on process.nextTick, before the
 * loop polls. A destroyed socket's connect() would make a fresh socket in ztunnel's own namespace, so connect is
 * disabled on the returned socket.
 */
export async function connectFromNetns(netnsFd: number, options: ConnectFromNetnsOptions): Promise<net.Socket> {
  const family = familyOf(options.host);
  if (options.localAddress !== undefined && familyOf(options.localAddress) !== family) {
    throw new TypeError(`localAddress ${options.localAddress} and host ${options.host} are of different families`);
  }
  const fd = createSocket({
    netnsFd,
    family,
    ...(options.mark !== undefined && { mark: options.mark }),
    ...(options.transparent !== undefined && { transparent: options.transparent }),
    ...(options.localAddress !== undefined && { bind: { address: options.localAddress, port: 0 } }),
  });
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
    socket.setNoDelay(true);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.connect({ port: options.port, host: options.host }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
    Object.defineProperty(socket, 'connect', {
      value: (): never => {
        assert.fail('BUG: connect() on a socket from connectFromNetns would create a socket in the wrong namespace');
      },
    });
  });
}

/**
 * An unconnected net.Socket (`allowHalfOpen`, TCP_NODELAY) whose socket lives in the namespace, for a caller that connects it to
 * `host` *in the same tick* (the HBONE pool does): see connectFromNetns for why the tick matters.
 */
export function unconnectedSocketInNetns(netnsFd: number, host: string, mark?: number): net.Socket {
  const fd = createSocket({ netnsFd, family: familyOf(host), ...(mark !== undefined && { mark }) });
  try {
    return new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true }).setNoDelay(true);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

function familyOf(ip: string): 4 | 6 {
  const family = net.isIP(ip);
  if (family === 4 || family === 6) return family;
  throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
}
