import {
  chownSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { AmbitError } from '@ambit/core';

/**
 * The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go) for configMap, secret, downwardAPI and projected
 * volumes: the payload goes into a fresh `..<timestamp>` directory, `..data` is swapped to it with one rename, and each
 * visible name is a symlink through `..data`. A container that has the volume mounted sees an update all at once
 * (a token and its CA never half-old), which writing files in place could not give.
 */

export interface VolumeFile {
  readonly content: string | Buffer;
  /** Permission bits; default 0o644 (the API's defaultMode 420). */
  readonly mode?: number;
}

/** Owner given to written files and directories (fsGroup / runAsUser), when the pod asks for one. */
export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/** Paths of a payload must stay inside the volume: relative, no `..` element (the API's validation says the same). */
export function checkPayloadPath(path: string): string | undefined {
  if (path === '' || path.startsWith('/')) return `must be a relative path: ${path}`;
  if (path.split('/').includes('..')) return `must not contain '..': ${path}`;
  if (path.startsWith('..')) return `must not start with '..': ${path}`;
  return undefined;
}

let generation = 0;

/** Writes `payload` as the volume's new content; returns false (and writes nothing) when it is already that. */
export function writeAtomically(dir: string, payload: ReadonlyMap<string, VolumeFile>, owner?: FileOwner): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const path of payload.keys()) {
    const bad = checkPayloadPath(path);
    if (bad !== undefined) throw new AmbitError('BAD_VOLUME_PATH', `BUG: payload path ${bad}`);
  }
  const old = readLink(join(dir, '..data'));
  // As the kubelet's writer: an unchanged payload leaves the volume alone (periodic syncs must not churn it).
  if (old !== undefined && sameContent(join(dir, old), payload)) return false;
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${++generation}`;
  const tsDir = join(dir, stamp);
  mkdirSync(tsDir, { mode: 0o755 });
  for (const [path, file] of payload) {
    const full = join(tsDir, path);
    mkdirSync(dirname(full), { recursive: true, mode: 0o755 });
    writeFileSync(full, file.content, { mode: file.mode ?? 0o644 });
    if (owner !== undefined) chownSync(full, owner.uid, owner.gid);
  }
  if (owner !== undefined) chownSync(tsDir, owner.uid, owner.gid);
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, join(dir, '..data'));
  const top = new Set([...payload.keys()].map((p) => p.split('/')[0] ?? p));
  for (const name of top) {
    if (readLink(join(dir, name)) === undefined) symlinkSync(join('..data', name), join(dir, name));
  }
  // What the previous payload had and this one lacks disappears; then the old generation goes.
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..') || top.has(entry)) continue;
    rmSync(join(dir, entry), { recursive: true, force: true });
  }
  if (old !== undefined && old !== stamp) rmSync(join(dir, old), { recursive: true, force: true });
  return true;
}

function sameContent(current: string, payload: ReadonlyMap<string, VolumeFile>): boolean {
  try {
    const files = listFiles(current);
    if (files.length !== payload.size) return false;
    for (const [path, file] of payload) {
      const full = join(current, path);
      if ((statSync(full).mode & 0o777) !== (file.mode ?? 0o644)) return false;
      if (!readFileSync(full).equals(Buffer.from(file.content))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)],
  );
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
