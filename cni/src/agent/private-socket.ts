// The agent's unix-socket servers (the CNI endpoint, the ztunnel link) bind the same way: replace a stale socket file
// left by a crashed run, listen, and make the socket root-only before anyone is told it is there.
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Server } from 'node:net';
import { AmbitError } from '@ambit/core';

/** Removes a stale socket file left by a previous run (bind fails on it); refuses to delete anything else. */
export async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new AmbitError('SOCKET_PATH_IN_USE', `${path} exists and is not a socket; refusing to replace it`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Binds `server` (an http or net server) to `path` with mode 0600: whoever can connect to either socket can capture
 * or release pods, or fake ztunnel's acks. Bind errors reject (a start-up error).
 */
export async function listenPrivate(server: Server, path: string): Promise<void> {
  await removeStaleSocket(path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
}
