import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The public face of @ambit/local for ambitctl and tests. */
export { clusterPaths, DEFAULT_STATE_ROOT, RUNNER_MARKER, type ClusterPaths, type RunnerInfo } from './runner/paths.ts';
export { cleanupLeftovers, listNetnsWithPrefix } from './net/cleanup.ts';
export { loadManifests, manifestFiles, type SourcedObject } from './manifest/load.ts';
export { crdDir, installCrds, readCrds } from './runner/crds.ts';
export { ManifestError, formatProblem, type ManifestProblem } from './manifest/manifest-error.ts';

/** Entry point of the background runner that `ambitctl local up` starts. */
export const RUNNER_ENTRY = fileURLToPath(new URL('./runner/main.ts', import.meta.url));
/** Root of the repository (where node_modules, and tsx, are found). */
export const REPO_ROOT = dirname(dirname(dirname(dirname(RUNNER_ENTRY))));
