import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { isPodReady } from './store-view.ts';

/**
 * When a ready pod counts as available: `minReadySeconds` after its Ready condition last turned True
 * (podutil.IsPodAvailable). Undefined when the pod is not ready.
 */
export function podAvailableAtMs(pod: KubeObject, minReadySeconds: number): number | undefined {
  if (!isPodReady(pod)) return undefined;
  const conditions = asRecord(pod['status'])['conditions'];
  const ready = Array.isArray(conditions) ? conditions.map(asRecord).find((c) => c['type'] === 'Ready') : undefined;
  const since = Date.parse(String(ready?.['lastTransitionTime'] ?? ''));
  // A Ready condition without a time (written by hand) counts as ready since forever, as Kubernetes does.
  if (minReadySeconds <= 0 || !Number.isFinite(since)) return 0;
  return since + minReadySeconds * 1000;
}

/** Ranks pods for deletion on scale-down as the ReplicaSet controller does (controller.ActivePods): first goes first. */
export function deletionOrder(a: KubeObject, b: KubeObject): number {
  const rank = (p: KubeObject): number[] => {
    const st = asRecord(p['status']);
    const phase = st['phase'] === 'Pending' ? 0 : st['phase'] === 'Running' ? 2 : 1;
    const readySince = podAvailableAtMs(p, 0) === undefined ? undefined : readyTransitionMs(p);
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
