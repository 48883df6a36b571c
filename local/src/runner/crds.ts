import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AmbitError, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { loadManifests } from '../manifest/load.ts';
import type { ObjectStore } from '../store/object-store.ts';

/** Where the repository keeps Ambit's own CRDs (deploy/crds), relative to its root. */
export function crdDir(repoRoot: string): string {
  return join(repoRoot, 'deploy', 'crds');
}

/**
 * Ambit's CRDs as a real install applies them: the files the directory's kustomization.yaml lists, in its order (so a
 * file left out of the kustomization is left out here too).
 */
export function readCrds(dir: string): KubeObject[] {
  const kustomization: unknown = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  const resources = isRecord(kustomization) && Array.isArray(kustomization['resources']) ? kustomization['resources'] : [];
  const files = resources.filter((r): r is string => typeof r === 'string').map((r) => join(dir, r));
  const objects = loadManifests(files, dir).map((s) => s.object);
  const other = objects.find((o) => o.kind !== 'CustomResourceDefinition');
  if (other !== undefined) {
    throw new AmbitError(
      'CRD_DIR_INVALID',
      `${dir} lists a ${other.kind} (${other.metadata.name ?? ''}); only CustomResourceDefinitions belong there`,
    );
  }
  return objects;
}

/**
 * Serves Ambit's kinds in a local cluster from the start, as a cluster with Ambit installed does: each CRD is created,
 * or brought up to date when an older version of it is stored. The store validates them like any CRD.
 */
export function installCrds(store: ObjectStore, crds: readonly KubeObject[]): void {
  const type = store.typeOf({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' });
  store.transaction(() => {
    for (const crd of crds) {
      const stored = store.find(type, undefined, crd.metadata.name ?? '');
      if (stored === undefined) store.create(crd);
      else store.update({ ...crd, metadata: { ...crd.metadata, resourceVersion: stored.metadata.resourceVersion ?? '' } });
    }
  });
}
