import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { isPodReady } from './store-view.ts';

/**
 * The DaemonSet `RollingUpdate` step, as kube-controller-manager's daemon controller computes it (pkg/controller/daemon
 * update.go `rollingUpdate`): which old pods to delete and on which nodes to create a new pod now, given the pods on
 * each node and the surge/unavailability budget. Pure, so the rules can be tested without a cluster.
 *
 * - `maxSurge` 0: old pods are deleted, at most `maxUnavailable` nodes without an available daemon pod at a time (old
 *   pods that are not available are always replaced); the manage loop creates the new pod once the old one is gone.
 * - `maxSurge` > 0: a new pod is created beside the old one on at most `maxSurge` nodes at a time, and the old pod is
 *   deleted once the new one is available — a node keeps a serving daemon pod throughout (what ztunnel relies on).
 */

export const REVISION_HASH_LABEL = 'controller-revision-hash';

export interface RolloutInput {
  /** Live (not terminating) daemon pods per node the DaemonSet has pods on. */
  readonly podsByNode: ReadonlyMap<string, readonly KubeObject[]>;
  /** The current template's `controller-revision-hash`. */
  readonly hash: string;
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly isAvailable: (pod: KubeObject) => boolean;
  readonly shouldRun: (nodeName: string) => boolean;
}

export interface RolloutStep {
  readonly deletePods: readonly KubeObject[];
  readonly createOnNodes: readonly string[];
}

/** Whether a pod runs the DaemonSet's current template (daemon/util `IsPodUpdated`, by the revision hash label). */
export function isPodUpdated(pod: KubeObject, hash: string): boolean {
  return pod.metadata.labels?.[REVISION_HASH_LABEL] === hash;
}

/** `findUpdatedPodsOnNode`: at most one new and one old pod per node, else undefined (the manage loop sorts it out). */
function splitOnNode(pods: readonly KubeObject[], hash: string): { next?: KubeObject; old?: KubeObject } | undefined {
  let next: KubeObject | undefined;
  let old: KubeObject | undefined;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp !== undefined) continue;
    if (isPodUpdated(p, hash)) {
      if (next !== undefined) return undefined;
      next = p;
    } else {
      if (old !== undefined) return undefined;
      old = p;
    }
  }
  return { ...(next === undefined ? {} : { next }), ...(old === undefined ? {} : { old }) };
}

export function rollingUpdateStep(input: RolloutInput): RolloutStep {
  const { hash, maxSurge, maxUnavailable, isAvailable } = input;
  if (maxSurge === 0) {
    let unavailable = 0;
    const replaceNow: KubeObject[] = [];
    const candidates: KubeObject[] = [];
    for (const pods of input.podsByNode.values()) {
      const split = splitOnNode(pods, hash);
      if (split === undefined) {
        unavailable++;
        continue;
      }
      const { next, old } = split;
      if ((next === undefined && old === undefined) || (next !== undefined && old !== undefined)) unavailable++;
      else if (next !== undefined) {
        if (!isAvailable(next)) unavailable++;
      } else if (old !== undefined) {
        if (!isAvailable(old)) {
          // An old pod that is not serving anyway is replaced at once; it still counts as unavailable.
          replaceNow.push(old);
          unavailable++;
        } else if (unavailable < maxUnavailable) candidates.push(old);
      }
    }
    const remaining = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
    return { deletePods: [...replaceNow, ...candidates.slice(0, remaining)], createOnNodes: [] };
  }
  const deletePods: KubeObject[] = [];
  const mustCreate: string[] = [];
  const candidateNodes: string[] = [];
  let surging = 0;
  for (const [node, pods] of input.podsByNode) {
    const split = splitOnNode(pods, hash);
    if (split === undefined) {
      surging++;
      continue;
    }
    const { next, old } = split;
    if (old === undefined) continue; // nothing to replace; the manage loop creates a missing pod
    if (next === undefined) {
      if (!isAvailable(old)) {
        // An old pod that is not serving anyway is replaced at once, without using the surge budget.
        if (!input.shouldRun(node)) deletePods.push(old);
        else mustCreate.push(node);
      } else if (surging < maxSurge) candidateNodes.push(node);
    } else if (!isAvailable(next)) surging++;
    else deletePods.push(old); // the new pod serves: the old one goes
  }
  const remaining = Math.min(Math.max(0, maxSurge - surging), candidateNodes.length);
  return { deletePods, createOnNodes: [...mustCreate, ...candidateNodes.slice(0, remaining)] };
}

/**
 * `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`: an integer, or a percentage of `total` rounded up.
 * Undefined when the value is neither (the caller reports it).
 */
export function scaledValue(v: unknown, total: number): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const m = /^(\d+)%$/.exec(v);
    if (m !== null) return Math.ceil((Number(m[1]) * total) / 100);
    if (/^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

/** Ready for `minReadySeconds` (podutil.IsPodAvailable); `readyForMs` says how long until it will be, when not yet. */
export function availability(pod: KubeObject, minReadySeconds: number, now: Date): { available: boolean; inMs: number } {
  if (!isPodReady(pod)) return { available: false, inMs: Infinity };
  if (minReadySeconds <= 0) return { available: true, inMs: 0 };
  const conditions = asRecord(pod['status'])['conditions'];
  const ready = (Array.isArray(conditions) ? conditions : []).map(asRecord).find((c) => c['type'] === 'Ready');
  const since = Date.parse(String(ready?.['lastTransitionTime'] ?? ''));
  if (!Number.isFinite(since)) return { available: false, inMs: minReadySeconds * 1000 };
  const inMs = since + minReadySeconds * 1000 - now.getTime();
  return { available: inMs <= 0, inMs: Math.max(0, inMs) };
}
