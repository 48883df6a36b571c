import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';

/**
 * Whether a pod (template) fits a node, as the DaemonSet controller decides it (pkg/controller/daemon
 * `NodeShouldRunDaemonPod`, using the scheduler's NodeAffinity and TaintToleration rules): `spec.nodeSelector`,
 * `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution` (terms ORed, expressions within a term
 * ANDed; `matchFields` only on `metadata.name`, as the API allows), and untolerated `NoSchedule`/`NoExecute` taints.
 */

export interface Placement {
  /** A new daemon pod should be created on the node. */
  readonly shouldRun: boolean;
  /** A daemon pod already there may stay (only an untolerated NoExecute taint, or a selector mismatch, evicts it). */
  readonly shouldContinueRunning: boolean;
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** One NodeSelectorRequirement against a value (`undefined` = the label is absent). */
function requirementMatches(req: Record<string, unknown>, value: string | undefined): boolean {
  const values = arr(req['values']).map(String);
  switch (req['operator']) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Both sides must parse as integers, else the requirement does not match (labels.Requirement.Matches).
      const want = values.length === 1 ? Number(values[0]) : NaN;
      const have = value === undefined ? NaN : Number(value);
      if (!Number.isInteger(want) || !Number.isInteger(have)) return false;
      return req['operator'] === 'Gt' ? have > want : have < want;
    }
    default:
      return false;
  }
}

/** A NodeSelectorTerm: every expression and field requirement must hold; an empty term matches nothing. */
function termMatches(term: Record<string, unknown>, node: KubeObject): boolean {
  const exprs = arr(term['matchExpressions']).filter(isRecord);
  const fields = arr(term['matchFields']).filter(isRecord);
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  return (
    exprs.every((e) => requirementMatches(e, labels[String(e['key'])])) &&
    fields.every((f) => f['key'] === 'metadata.name' && requirementMatches(f, node.metadata.name))
  );
}

/** `spec.nodeSelector` and required node affinity of a pod spec (scheduler's `GetRequiredNodeAffinity().Match`). */
export function fitsNodeAffinity(podSpec: Record<string, unknown>, node: KubeObject): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(asRecord(podSpec['nodeSelector']))) if (labels[k] !== v) return false;
  const required = asRecord(asRecord(asRecord(podSpec['affinity'])['nodeAffinity'])['requiredDuringSchedulingIgnoredDuringExecution']);
  if (!isRecord(asRecord(podSpec['affinity'])['nodeAffinity']) || Object.keys(required).length === 0) return true;
  return arr(required['nodeSelectorTerms'])
    .filter(isRecord)
    .some((t) => termMatches(t, node));
}

/** v1 `Toleration.ToleratesTaint`. */
export function tolerates(toleration: Record<string, unknown>, taint: Record<string, unknown>): boolean {
  const effect = toleration['effect'];
  if (effect !== undefined && effect !== '' && effect !== taint['effect']) return false;
  const key = toleration['key'];
  if (key !== undefined && key !== '' && key !== taint['key']) return false;
  const op = toleration['operator'] ?? 'Equal';
  if (op === 'Exists') return true;
  return op === 'Equal' && (toleration['value'] ?? '') === (taint['value'] ?? '');
}

function untolerated(
  taints: readonly Record<string, unknown>[],
  tolerations: readonly Record<string, unknown>[],
  effects: readonly string[],
) {
  return taints.some((t) => effects.includes(String(t['effect'])) && !tolerations.some((tol) => tolerates(tol, t)));
}

/**
 * NodeShouldRunDaemonPod for the pod spec the DaemonSet would create (its template with the daemon tolerations
 * added). A pod pinned by `spec.nodeName` to another node never fits.
 */
export function placementOn(podSpec: Record<string, unknown>, node: KubeObject): Placement {
  const pinned = podSpec['nodeName'];
  if (typeof pinned === 'string' && pinned !== '' && pinned !== node.metadata.name)
    return { shouldRun: false, shouldContinueRunning: false };
  if (!fitsNodeAffinity(podSpec, node)) return { shouldRun: false, shouldContinueRunning: false };
  const taints = arr(asRecord(node['spec'])['taints']).filter(isRecord);
  const tolerations = arr(podSpec['tolerations']).filter(isRecord);
  if (!untolerated(taints, tolerations, ['NoSchedule', 'NoExecute'])) return { shouldRun: true, shouldContinueRunning: true };
  return { shouldRun: false, shouldContinueRunning: !untolerated(taints, tolerations, ['NoExecute']) };
}

/**
 * The tolerations every daemon pod gets (daemon/util `AddOrUpdateDaemonPodTolerations`), so a DaemonSet keeps its pods
 * on nodes that are cordoned, under pressure or not ready; `network-unavailable` only for hostNetwork pods.
 */
export function withDaemonTolerations(podSpec: Record<string, unknown>): Record<string, unknown>[] {
  const own = arr(podSpec['tolerations']).filter(isRecord);
  const add: Array<[string, string]> = [
    ['node.kubernetes.io/not-ready', 'NoExecute'],
    ['node.kubernetes.io/unreachable', 'NoExecute'],
    ['node.kubernetes.io/disk-pressure', 'NoSchedule'],
    ['node.kubernetes.io/memory-pressure', 'NoSchedule'],
    ['node.kubernetes.io/pid-pressure', 'NoSchedule'],
    ['node.kubernetes.io/unschedulable', 'NoSchedule'],
  ];
  if (podSpec['hostNetwork'] === true) add.push(['node.kubernetes.io/network-unavailable', 'NoSchedule']);
  const out = [...own];
  for (const [key, effect] of add) {
    // AddOrUpdateTolerationInPodSpec: a toleration with the same key and effect is replaced.
    const i = out.findIndex((t) => t['key'] === key && (t['effect'] ?? '') === effect);
    const tol = { key, operator: 'Exists', effect };
    if (i === -1) out.push(tol);
    else out[i] = tol;
  }
  return out;
}

/**
 * daemon/util `ReplaceDaemonSetPodNodeNameNodeAffinity`: the pod's required node affinity becomes exactly one term
 * `metadata.name In [node]` (other required terms are dropped; preferred terms are kept), which is how the real
 * controller pins a daemon pod to its node.
 */
export function pinToNode(affinity: unknown, nodeName: string): Record<string, unknown> {
  const a = structuredClone(asRecord(affinity));
  const nodeAffinity = asRecord(a['nodeAffinity']);
  a['nodeAffinity'] = {
    ...nodeAffinity,
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
    },
  };
  return a;
}
