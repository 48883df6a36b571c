import type { KubeObject } from '../src/kube/types.ts';
import type { StoreView } from '../src/cluster/store-view.ts';

/**
 * Stands in for the kubelets of controller tests that run no pods: every pod in `namespace` reports Running and Ready
 * (unless its name is in `holdNotReady`), and a pod marked for deletion is removed, as a kubelet confirms with a
 * delete of grace 0 once its containers stopped.
 */
export function startPodStatusStub(view: StoreView, namespace: string, holdNotReady: ReadonlySet<string> = new Set()): () => void {
  const sync = (): void => {
    for (const p of view.list('Pod', namespace)) {
      const name = p.metadata.name ?? '';
      if (p.metadata.deletionTimestamp !== undefined) {
        view.remove('Pod', namespace, name, 0);
        continue;
      }
      const ready = holdNotReady.has(name) ? 'False' : 'True';
      const containers = Array.isArray((p['spec'] as Record<string, unknown> | undefined)?.['containers'])
        ? ((p['spec'] as Record<string, unknown>)['containers'] as Array<Record<string, unknown>>)
        : [];
      const status = {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' },
          { type: 'Ready', status: ready, lastTransitionTime: '2026-01-01T00:00:00Z' },
        ],
        containerStatuses: containers.map((c) => ({
          name: c['name'],
          ready: ready === 'True',
          restartCount: 0,
          state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
        })),
      };
      if (JSON.stringify(p['status']) !== JSON.stringify(status)) view.updateStatus({ ...p, status } as KubeObject);
    }
  };
  let pending = false;
  const unsubscribe = view.onChange(() => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      sync();
    });
  });
  sync();
  return unsubscribe;
}
