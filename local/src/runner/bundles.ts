import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Node flags ztunnel runs with. A small young generation (V8's default semi-space grows to 16 MB, and RSS keeps every
 * page it touched) keeps a node proxy's RSS near its live data; scavenges of a proxy's short-lived buffers stay cheap.
 * `--expose-gc` lets the memory trim collect dropped buffers once the proxy goes quiet (ztunnel/src/process).
 */
export const ZTUNNEL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--expose-gc'];

/**
 * Node flags the waypoint runs with (measured: waypoint/README.md "Memory"): a small young generation as for ztunnel,
 * and `--expose-gc` for the buffer collector (waypoint/src/process/buffer-collector.ts).
 */
export const WAYPOINT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--expose-gc'];

/**
 * A component that local mode runs from an esbuild bundle with plain node (no tsx loader: ~35–45 MB less RSS per
 * process, and no esbuild child), when the bundle is newer than every source it was built from.
 */
export interface Bundle {
  /** Path of the bundle, relative to the checkout. */
  readonly file: string;
  /** The entry it bundles, run with tsx while the bundle is stale. */
  readonly entry: string;
  /** Source trees the bundle is built from (its npm dependencies come with the lockfile). */
  readonly sources: readonly string[];
}

/** Built by scripts/build-bundle.mjs (scripts/ensure-deps.sh). */
export const ZTUNNEL_BUNDLE: Bundle = {
  file: 'ztunnel/build/bundle/ztunnel.mjs',
  entry: 'ztunnel/src/main.ts',
  sources: ['ztunnel/src', 'core/src', 'scripts/build-bundle.mjs', 'package-lock.json'],
};

/** Built by scripts/build-bundle.mjs (scripts/ensure-deps.sh). */
export const WAYPOINT_BUNDLE: Bundle = {
  file: 'waypoint/build/bundle/waypoint.mjs',
  entry: 'waypoint/src/main.ts',
  sources: ['waypoint/src', 'core/src', 'scripts/build-bundle.mjs', 'package-lock.json'],
};

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why the bundle cannot be used (missing, or older than a source), or undefined when it is current. */
export function bundleStaleness(repoRoot: string, bundle: Bundle): string | undefined {
  let built: number;
  try {
    built = statSync(join(repoRoot, bundle.file)).mtimeMs;
  } catch {
    return 'no bundle';
  }
  for (const src of bundle.sources) {
    if (newestMtime(join(repoRoot, src)) > built) return `${src} is newer than the bundle`;
  }
  return undefined;
}

/**
 * The argv that runs a bundled component: the bundle with plain node when it is current, else its entry with tsx
 * (`onStale` hears why). `nodeFlags` go before the script either way.
 */
export function bundledCommand(
  repoRoot: string,
  bundle: Bundle,
  nodeFlags: readonly string[],
  onStale?: (reason: string) => void,
): string[] {
  const stale = bundleStaleness(repoRoot, bundle);
  if (stale === undefined) return [process.execPath, ...nodeFlags, join(repoRoot, bundle.file)];
  onStale?.(stale);
  return [process.execPath, ...nodeFlags, '--import', 'tsx', join(repoRoot, bundle.entry)];
}
