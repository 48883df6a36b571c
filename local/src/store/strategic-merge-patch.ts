import { isRecord } from '@ambit/core';
import { ApiError } from './api-error.ts';

/**
 * Strategic merge patch (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md)
 * for the built-in kinds, what client-side `kubectl apply`, `edit` and `set` send. kube-apiserver takes each
 * list's strategy from the Go types' `patchStrategy`/`patchMergeKey` tags; the lists those tags make merging in the
 * kinds this API serves are below (by field name and, where a name is ambiguous, by what the elements hold). Every
 * other list is replaced, as there. Directives: `$patch: replace|delete|merge` (map and list element),
 * `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`, `$retainKeys`.
 */

/** Kubernetes' own API groups: their kinds are Go types with patch tags (CRD-style kinds elsewhere have none). */
export const KUBERNETES_GROUPS: ReadonlySet<string> = new Set([
  '',
  'apps',
  'discovery.k8s.io',
  'coordination.k8s.io',
  'apiextensions.k8s.io',
]);

/** Lists merged by a key field, from the Go tags of core/v1, apps/v1, meta/v1, discovery/v1. */
export const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  ownerReferences: 'uid',
  conditions: 'type',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  schedulingGates: 'name',
  readinessGates: 'conditionType',
};

/** Lists of scalars merged as sets (`patchStrategy:"merge"` on a []string). */
export const MERGED_SCALAR_LISTS: ReadonlySet<string> = new Set(['finalizers']);

/** `ports` merge by `containerPort` in containers and by `port` in Services (both tagged so in core/v1). */
export function mergeKeyOf(field: string, elements: readonly unknown[]): string | undefined {
  if (field === 'ports') {
    const first = elements.find(isRecord);
    return first !== undefined && 'containerPort' in first ? 'containerPort' : 'port';
  }
  return MERGE_KEYS[field];
}

const DIRECTIVE = '$patch';
const ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';
const RETAIN = '$retainKeys';

function bad(message: string): ApiError {
  return ApiError.badRequest(`invalid strategic merge patch: ${message}`);
}

/** Applies `patch` to `target` (not modified) and returns the result. */
export function applyStrategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const directive = patch[DIRECTIVE];
  if (directive === 'delete') return undefined;
  const rest = Object.fromEntries(Object.entries(patch).filter(([k]) => k !== DIRECTIVE));
  if (directive === 'replace') return stripDirectives(rest);
  if (directive !== undefined && directive !== 'merge') throw bad(`unknown $patch ${JSON.stringify(directive)}`);
  let out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  const retain = rest[RETAIN];
  for (const [k, v] of Object.entries(rest)) {
    if (k === RETAIN || k.startsWith(ORDER)) continue;
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      const drop = Array.isArray(v) ? v : [];
      if (Array.isArray(out[field]))
        out[field] = (out[field] as unknown[]).filter((x) => !drop.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      out[k] = mergeList(k, out[k], v);
    } else {
      const merged = applyStrategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  for (const [k, order] of Object.entries(rest)) {
    if (k.startsWith(ORDER) && Array.isArray(order)) {
      const field = k.slice(ORDER.length);
      if (Array.isArray(out[field])) out[field] = reorder(field, out[field] as unknown[], order);
    }
  }
  if (Array.isArray(retain)) out = Object.fromEntries(Object.entries(out).filter(([k]) => retain.includes(k)));
  return out;
}

function mergeList(field: string, current: unknown, patch: readonly unknown[]): unknown[] {
  const cur = Array.isArray(current) ? current : [];
  if (MERGED_SCALAR_LISTS.has(field)) {
    const out = [...cur];
    for (const v of patch) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
    return out;
  }
  const key = mergeKeyOf(field, [...patch, ...cur]);
  // A list-level `{$patch: replace}` element replaces the whole list with the other elements.
  if (key === undefined || patch.some((e) => isRecord(e) && e[DIRECTIVE] === 'replace')) {
    return patch.filter((e) => !(isRecord(e) && e[DIRECTIVE] === 'replace')).map(stripDirectives);
  }
  const out = [...cur];
  for (const e of patch) {
    if (!isRecord(e) || !(key in e)) throw bad(`an element of ${field} has no merge key ${key}`);
    const i = out.findIndex((x) => isRecord(x) && JSON.stringify(x[key]) === JSON.stringify(e[key]));
    if (e[DIRECTIVE] === 'delete') {
      if (i !== -1) out.splice(i, 1);
      continue;
    }
    if (i === -1) out.push(stripDirectives(e));
    else out[i] = applyStrategicMergePatch(out[i], e);
  }
  return out;
}

/** `$setElementOrder`: the listed elements in that order first, then the others as they were. */
function reorder(field: string, list: unknown[], order: readonly unknown[]): unknown[] {
  const key = mergeKeyOf(field, list);
  const id = (x: unknown): string => JSON.stringify(key !== undefined && isRecord(x) ? x[key] : x);
  const rank = new Map(order.map((o, i) => [id(o), i]));
  const ranked = list.filter((x) => rank.has(id(x))).sort((a, b) => (rank.get(id(a)) ?? 0) - (rank.get(id(b)) ?? 0));
  return [...ranked, ...list.filter((x) => !rank.has(id(x)))];
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => k !== DIRECTIVE && k !== RETAIN && !k.startsWith(ORDER) && !k.startsWith(DELETE_PRIMITIVE))
      .map(([k, x]) => [k, stripDirectives(x)]),
  );
}
