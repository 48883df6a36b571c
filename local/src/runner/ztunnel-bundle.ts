import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Node flags ztunnel runs with. A small young generation (V8's default semi-space grows to 16 MB, and RSS keeps every
 * page it touched) keeps a node proxy's RSS near its live data; scavenges of a proxy's short-lived buffers stay cheap.
 * `--expose-gc` lets the memory trim collect dropped buffers once the proxy goes quiet (ztunnel/src/process).
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--expose-gc'];

export function ztunnelBundlePath(repoRoot: string): string {
  return join(repoRoot, 'ztunnel', 'build', 'bundle', 'ztunnel.mjs');
}

/** Source trees the bundle is built from: ztunnel's and @ambit/core's (its npm dependencies come with the lockfile). */
const SOURCES = ['ztunnel/src', 'core/src', 'ztunnel/scripts/build-bundle.mjs', 'package-lock.json'];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why the bundle cannot be used (missing, or older than a source), or undefined when it is current. */
export function ztunnelBundleStaleness(repoRoot: string): string | undefined {
  let built: number;
  try {
    built = statSync(ztunnelBundlePath(repoRoot)).mtimeMs;
  } catch {
    return 'no bundle';
  }
  for (const src of SOURCES) {
    if (newestMtime(join(repoRoot, src)) > built) return `${src} is newer than the bundle`;
  }
  return undefined;
}
