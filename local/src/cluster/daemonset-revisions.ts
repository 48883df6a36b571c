import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { REVISION_HASH_LABEL } from './daemonset-rollout.ts';
import { controllerRef, isControlledBy, stableJson } from './owner.ts';
import type { StoreView } from './store-view.ts';

/**
 * A DaemonSet's history as ControllerRevisions (pkg/controller/daemon update.go `constructHistory`/`cleanupHistory`),
 * which `kubectl rollout history ds` lists: one revision per distinct template, named `<ds>-<hash>`, holding the
 * template as a strategic-merge patch with `$patch: replace`; the current one has the highest `revision`
 * (re-numbered when a template comes back, as on `rollout undo`); old revisions no live pod uses are removed beyond
 * `spec.revisionHistoryLimit` (default 10), oldest first.
 */
export function syncRevisions(view: StoreView, ds: KubeObject, template: Record<string, unknown>, hash: string): void {
  const ns = ds.metadata.namespace ?? 'default';
  const owned = view.list('ControllerRevision', ns).filter((r) => isControlledBy(r, ds));
  const maxRevision = owned.reduce((m, r) => Math.max(m, revisionOf(r)), 0);
  const name = `${ds.metadata.name ?? ''}-${hash}`;
  const data = { spec: { template: { ...structuredClone(template), $patch: 'replace' } } };
  const existing = owned.find((r) => r.metadata.name === name);
  if (existing === undefined) {
    view.create({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: ns,
        labels: { ...(asRecord(template['metadata'])['labels'] as Record<string, string> | undefined), [REVISION_HASH_LABEL]: hash },
        ownerReferences: [controllerRef(ds)],
      },
      data,
      revision: maxRevision + 1,
    });
  } else if (revisionOf(existing) < maxRevision && stableJson(existing['data']) === stableJson(data)) {
    view.update({ ...existing, revision: maxRevision + 1 });
  }
  const limit = asRecord(ds['spec'])['revisionHistoryLimit'];
  const keep = typeof limit === 'number' && limit >= 0 ? limit : 10;
  const inUse = new Set(
    view
      .list('Pod', ns)
      .filter((p) => isControlledBy(p, ds))
      .map((p) => p.metadata.labels?.[REVISION_HASH_LABEL]),
  );
  const old = view
    .list('ControllerRevision', ns)
    .filter((r) => isControlledBy(r, ds) && r.metadata.name !== name && !inUse.has(r.metadata.labels?.[REVISION_HASH_LABEL]))
    .sort((a, b) => revisionOf(a) - revisionOf(b));
  for (const r of old.slice(0, Math.max(0, old.length - keep))) view.remove('ControllerRevision', ns, r.metadata.name ?? '');
}

function revisionOf(r: KubeObject): number {
  return typeof r['revision'] === 'number' ? r['revision'] : 0;
}
