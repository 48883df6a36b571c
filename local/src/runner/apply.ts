import { dirname } from 'node:path';
import type { KubeObject } from '../kube/types.ts';
import { WORKDIR_ANNOTATION } from '../cluster/kubelet.ts';
import { stableJson } from '../cluster/owner.ts';
import type { SourcedObject } from '../manifest/load.ts';

/** What applying manifests needs from the store, for any kind (known or not). */
export interface ApplyTarget {
  /** All-or-nothing: if `fn` throws, nothing it wrote stays and no watcher saw it. */
  transaction<T>(fn: () => T): T;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  create(obj: KubeObject): KubeObject;
  update(obj: KubeObject): KubeObject;
  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): void;
  /** True for namespaced kinds; unknown kinds are registered on the way (namespaced when the object names one). */
  isNamespaced(apiVersion: string, kind: string, hint: KubeObject): boolean;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';

export interface ApplyResult {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly action: ApplyAction;
}

/** Fields that belong to the system, never taken from a manifest on update. */
const SYSTEM_FIELDS = new Set(['status']);

/**
 * Applies manifests the way `kubectl apply` behaves for a user: absent objects are created, present ones have
 * their spec, labels and annotations replaced (status and system metadata kept), identical ones are left alone so
 * saving an unchanged file restarts nothing. One transaction: an error anywhere leaves the store as it was, and the
 * error names the file and document.
 */
export function applyObjects(target: ApplyTarget, objects: readonly SourcedObject[]): ApplyResult[] {
  return target.transaction(() =>
    objects.map((src) => {
      try {
        return applyOne(target, src);
      } catch (err) {
        throw prefixError(src, err);
      }
    }),
  );
}

function applyOne(target: ApplyTarget, src: SourcedObject): ApplyResult {
  const obj = prepare(target, src);
  const { apiVersion, kind } = obj;
  const ns = obj.metadata.namespace;
  const name = obj.metadata.name ?? '';
  const existing = target.get(apiVersion, kind, ns, name);
  const base = ns === undefined ? { kind, name } : { kind, namespace: ns, name };
  if (existing === undefined) {
    target.create(obj);
    return { ...base, action: 'created' };
  }
  const merged: KubeObject = {
    ...obj,
    metadata: { ...existing.metadata, labels: obj.metadata.labels ?? {}, annotations: obj.metadata.annotations ?? {} },
  };
  for (const f of SYSTEM_FIELDS) if (existing[f] !== undefined) merged[f] = existing[f];
  if (sameDesired(existing, merged)) return { ...base, action: 'unchanged' };
  target.update(merged);
  return { ...base, action: 'configured' };
}

/** Removes the objects the manifests name; absent ones are reported, not an error (like `kubectl delete --ignore-not-found`). */
export function deleteObjects(target: ApplyTarget, objects: readonly SourcedObject[]): ApplyResult[] {
  return target.transaction(() =>
    [...objects].reverse().map((src) => {
      const obj = prepare(target, src);
      const ns = obj.metadata.namespace;
      const name = obj.metadata.name ?? '';
      const base = ns === undefined ? { kind: obj.kind, name } : { kind: obj.kind, namespace: ns, name };
      if (target.get(obj.apiVersion, obj.kind, ns, name) === undefined) return { ...base, action: 'not found' as const };
      try {
        target.delete(obj.apiVersion, obj.kind, ns, name);
      } catch (err) {
        throw prefixError(src, err);
      }
      return { ...base, action: 'deleted' as const };
    }),
  );
}

/** Defaults the namespace and records where relative commands of pods are to run (the manifest's directory). */
function prepare(target: ApplyTarget, src: SourcedObject): KubeObject {
  const obj = structuredClone(src.object);
  if (target.isNamespaced(obj.apiVersion, obj.kind, obj)) obj.metadata.namespace ??= 'default';
  else delete obj.metadata.namespace;
  if ((obj.kind === 'Pod' || obj.kind === 'Deployment') && obj.metadata.annotations?.[WORKDIR_ANNOTATION] === undefined) {
    obj.metadata.annotations = { ...obj.metadata.annotations, [WORKDIR_ANNOTATION]: dirname(src.path) };
  }
  return obj;
}

function sameDesired(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): unknown => {
    const { metadata, status: _status, ...rest } = o;
    return { rest, labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {} };
  };
  return stableJson(strip(a)) === stableJson(strip(b));
}

function prefixError(src: SourcedObject, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  e.message = `${src.file}:${src.document}: ${e.message}`;
  return e;
}
