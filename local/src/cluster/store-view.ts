import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';

/** The kinds the local runtime's controllers read and write. */
export type KindName =
  | 'Namespace'
  | 'Node'
  | 'Pod'
  | 'Service'
  | 'ServiceAccount'
  | 'Deployment'
  | 'ReplicaSet'
  | 'DaemonSet'
  | 'ControllerRevision'
  | 'EndpointSlice'
  | 'Event'
  | 'ConfigMap'
  | 'Secret';

export interface StoreEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
}

/**
 * What the in-process controllers need from the object store. Keeping it this narrow makes each controller a
 * function of store state, and the store free to change underneath.
 */
export interface StoreView {
  find(kind: KindName, namespace: string | undefined, name: string): KubeObject | undefined;
  list(kind: KindName, namespace?: string): KubeObject[];
  create(obj: KubeObject): KubeObject;
  /** Replaces spec and metadata (status untouched for kinds with a status subresource). */
  update(obj: KubeObject): KubeObject;
  /** Replaces only `.status`. */
  updateStatus(obj: KubeObject): KubeObject;
  /** Deletes; pods on a node are deleted gracefully unless `gracePeriodSeconds` is 0. Absent objects are ignored. */
  remove(kind: KindName, namespace: string | undefined, name: string, gracePeriodSeconds?: number): void;
  /** Every committed change of every kind, in order. Returns an unsubscribe function. */
  onChange(listener: (event: StoreEvent) => void): () => void;
}

export function key(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns === undefined || ns === '' ? (obj.metadata.name ?? '') : `${ns}/${obj.metadata.name ?? ''}`;
}

export function splitKey(k: string): [string | undefined, string] {
  const i = k.indexOf('/');
  return i === -1 ? [undefined, k] : [k.slice(0, i), k.slice(i + 1)];
}

export function labelsOf(obj: KubeObject): Record<string, string> {
  return obj.metadata.labels ?? {};
}

/** Equality-based selector match (Service selectors, Deployment matchLabels). An empty selector matches nothing. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  if (selector === undefined) return false;
  const entries = Object.entries(selector);
  if (entries.length === 0) return false;
  return entries.every(([k, v]) => labels[k] === v);
}

export function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A pod counts as ready when its Ready condition is True (what Services and ReplicaSets count). */
export function isPodReady(pod: KubeObject): boolean {
  const conditions = asRecord(pod['status'])['conditions'];
  return Array.isArray(conditions) && conditions.some((c) => asRecord(c)['type'] === 'Ready' && asRecord(c)['status'] === 'True');
}
