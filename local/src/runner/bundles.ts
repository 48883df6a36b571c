import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '@ambit/core';
import { AmbitError, errorMessage } from '@ambit/core';

/**
 * The local cluster's image of Ambit is this checkout (cluster.ts localImages): `deploy/image/ambit` runs each
 * component from its esbuild bundle, as the Dockerfile's image does. A bundle older than its sources would run old
 * code without a word, so the cluster rebuilds stale bundles before it starts, as an image build would.
 */
export interface Bundle {
  /** The component, as `scripts/build-bundle.mjs` and `deploy/image/ambit` name it. */
  readonly component: string;
  /** Path of the bundle, relative to the checkout. */
  readonly file: string;
  /** Source trees the bundle is built from (scripts/ensure-deps.sh checks the same ones). */
  readonly sources: readonly string[];
}

const common = ['core/src', 'scripts/build-bundle.mjs', 'package-lock.json'];

export const BUNDLES: readonly Bundle[] = [
  { component: 'ztunnel', file: 'ztunnel/build/bundle/ztunnel.mjs', sources: ['ztunnel/src', 'ztunnel/package.json', ...common] },
  { component: 'waypoint', file: 'waypoint/build/bundle/waypoint.mjs', sources: ['waypoint/src', 'waypoint/package.json', ...common] },
  {
    component: 'controller',
    file: 'controller/build/bundle/controller.mjs',
    sources: ['controller/src', 'controller/package.json', ...common],
  },
  { component: 'node-agent', file: 'cni/build/bundle/node-agent.mjs', sources: ['cni/src', 'cni/package.json', ...common] },
];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why the bundle must be rebuilt (missing, or older than a source), or undefined when it is current. */
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

const run = promisify(execFile);

/** Rebuilds every stale bundle (esbuild, offline, about a second each), saying which and why. */
export async function buildStaleBundles(repoRoot: string, log: Logger): Promise<void> {
  for (const bundle of BUNDLES) {
    const why = bundleStaleness(repoRoot, bundle);
    if (why === undefined) continue;
    log.info({ component: bundle.component, why }, 'rebuilding the bundle the local image runs');
    try {
      await run(process.execPath, [join(repoRoot, 'scripts', 'build-bundle.mjs'), bundle.component], { cwd: repoRoot, timeout: 120_000 });
    } catch (err) {
      throw new AmbitError('BUNDLE_BUILD_FAILED', `bundling ${bundle.component} (${why}): ${errorMessage(err)}`, { cause: err });
    }
  }
}
