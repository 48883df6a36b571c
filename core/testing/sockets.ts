import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Helpers for xDS tests in any component. A short tmp directory keeps unix socket paths under the 107-byte
 * sun_path limit.
 */
export interface SocketDir {
  readonly dir: string;
  /** A socket path inside the directory. */
  path(name: string): string;
  remove(): void;
}

export function makeSocketDir(prefix = 'ambit-xds-'): SocketDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Kinds of libuv handles that mean an open socket or listener (see process.getActiveResourcesInfo()). */
const SOCKET_RESOURCES = new Set(['TCPWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'TLSWrap']);

/** The open sockets and listeners of this process; a test that cleaned up leaves as many as it found. */
export function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => SOCKET_RESOURCES.has(r)).length;
}

/** Pending timers of this process (libuv `Timeout`s). */
export function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
