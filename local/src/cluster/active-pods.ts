import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { isPodReady } from './store-view.ts';

/** Ranks pods for deletion on scale-down as the ReplicaSet controller does (controller.ActivePods): first goes first. */
export function deletionOrder(a: KubeObject, b: KubeObject): number {
  const rank = (p: KubeObject): number[] => {
    const st = asRecord(p['status']);
    const phase = st['phase'] === 'Pending' ? 0 : st['phase'] === 'Running' ? 2 : 1;
    const readySince = isPodReady(p) ? readyTransitionMs(p) : undefined;
    const restarts = Array.isArray(st['containerStatuses'])
      ? st['containerStatuses'].reduce<number>((n, c) => n + Number(asRecord(c)['restartCount'] ?? 0), 0)
      : 0;
    return [
      asRecord(p['spec'])['nodeName'] === undefined ? 0 : 1, // unscheduled first
      phase, // Pending < Unknown < Running
      readySince === undefined ? 0 : 1, // not ready first
      -(readySince ?? 0), // ready for a shorter time first
      -restarts, // more restarts first
      -Date.parse(p.metadata.creationTimestamp ?? '') || 0, // newer first
    ];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if ((ra[i] ?? 0) !== (rb[i] ?? 0)) return (ra[i] ?? 0) - (rb[i] ?? 0);
  return 0;
}

function readyTransitionMs(pod: KubeObject): number {
  const conditions = asRecord(pod['status'])['conditions'];
  const ready = Array.isArray(conditions) ? conditions.map(asRecord).find((c) => c['type'] === 'Ready') : undefined;
  const t = Date.parse(String(ready?.['lastTransitionTime'] ?? ''));
  return Number.isFinite(t) ? t : 0;
}
