// Loads the N-API addon built from native/netns.cc and describes its surface. The addon is built by
// `npm run build:native -w @ambit/ztunnel` (node-gyp, local headers); it is loaded on first use so that importing
// this module never fails on a machine where it has not been built yet.
import { createRequire } from 'node:module';
import { AmbitError } from '@ambit/core';

/** Where node-gyp puts the addon, relative to this file (ztunnel/src/native/ → ztunnel/build/Release/). */
const ADDON_PATH = '../../build/Release/ambit_netns.node';

export interface ListenSpec {
  /** IP literal of the socket's family; `0.0.0.0` / `::` for every address in the namespace. */
  readonly address: string;
  /** 0 lets the kernel pick a port (in the target namespace). */
  readonly port: number;
  /** listen(2) backlog. Default 511 (Node's). */
  readonly backlog?: number;
  /** SO_REUSEPORT. Default false. SO_REUSEADDR is always set on listeners. */
  readonly reusePort?: boolean;
  /** IP_TRANSPARENT / IPV6_TRANSPARENT, to accept connections for non-local addresses. Default false. */
  readonly transparent?: boolean;
}

export interface BindSpec {
  readonly address: string;
  /** 0 for an ephemeral port. */
  readonly port: number;
}

export interface CreateSocketOptions {
  /** Namespace handle from `openNetns`; omitted: the calling thread's own namespace. */
  readonly netnsFd?: number;
  readonly family: 4 | 6;
  /** Bind and listen: the fd is a listening socket, ready for `server.listen({ fd })`. Excludes `bind`. */
  readonly listen?: ListenSpec;
  /** SO_MARK (needs CAP_NET_ADMIN). Ambit's own sockets carry 0x539 so the pod's redirect rules skip them. */
  readonly mark?: number;
  /** IP_TRANSPARENT / IPV6_TRANSPARENT, to bind a non-local source address. Default false. */
  readonly transparent?: boolean;
  /** Source address for an outbound socket. Excludes `listen`. */
  readonly bind?: BindSpec;
}

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * What the addon throws for a failed syscall, shaped like Node's own system errors: `code` is the errno name
 * (`ENOENT`, `EADDRINUSE`), `errno` the negated errno number, `syscall` the failing call. Invalid arguments throw a
 * TypeError with code `ERR_INVALID_ARG_VALUE` instead, before any syscall runs.
 */
export interface NativeSystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
}

export function isNativeSystemError(err: unknown, code?: string): err is NativeSystemError {
  if (!(err instanceof Error)) return false;
  const fields = err as Error & { code?: unknown; syscall?: unknown };
  return typeof fields.code === 'string' && typeof fields.syscall === 'string' && (code === undefined || fields.code === code);
}

/** The addon's functions, all synchronous. */
export interface NativeBinding {
  openNetns(path: string): number;
  closeFd(fd: number): void;
  createSocket(options: CreateSocketOptions): number;
  setMark(fd: number, mark: number): void;
  /** SO_MARK of a socket; for tests and diagnostics. */
  getMark(fd: number): number;
  getOriginalDst(fd: number): SocketAddress;
  /** glibc malloc_trim(0): freed heap pages go back to the OS; true when some were released. */
  trimMemory(): boolean;
  /** glibc mallopt(M_MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD): true when both were taken. */
  keepFreedMemory(mmapThresholdBytes: number, trimThresholdBytes: number): boolean;
  /** glibc mallinfo2().fordblks: bytes free in malloc's arenas, the most a trim could hand back. */
  mallocFreeBytes(): number;
}

/** The addon could not be loaded, almost always because it was not built. */
export class NativeAddonError extends AmbitError {
  constructor(cause: unknown) {
    super(
      'NATIVE_ADDON_NOT_BUILT',
      `ztunnel's native addon could not be loaded from ztunnel/build/Release/ambit_netns.node: ` +
        'build it with `npm run build:native -w @ambit/ztunnel` (needs g++, make, python3 and /usr/include/node)',
      { cause },
    );
  }
}

let loaded: NativeBinding | undefined;

/** The addon, loaded once. Throws NativeAddonError when it is missing. */
export function nativeBinding(): NativeBinding {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  let candidate: unknown;
  try {
    candidate = require(ADDON_PATH);
  } catch (err) {
    throw new NativeAddonError(err);
  }
  if (typeof candidate !== 'object' || candidate === null || typeof (candidate as { createSocket?: unknown }).createSocket !== 'function') {
    throw new NativeAddonError(new Error(`${ADDON_PATH} does not export createSocket`));
  }
  loaded = candidate as NativeBinding;
  return loaded;
}
