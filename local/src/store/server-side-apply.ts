import { isRecord } from '@ambit/core';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import type { SchemaNode } from './crd-schema.ts';
import { changedFields, FieldSet, fieldSetOf, mergeApplied, pathString, removeAt, type FieldPath, type ListResolver } from './field-set.ts';
import { jsonEqual } from './merge-patch.ts';
import { apiVersionOf } from './resource-types.ts';
import { KUBERNETES_GROUPS, MERGED_SCALAR_LISTS, mergeKeyOf } from './strategic-merge-patch.ts';

/**
 * Server-side apply and field ownership (`metadata.managedFields`), after kube-apiserver's fieldmanager and
 * structured-merge-diff, for what kubectl (`apply --server-side`, `--field-manager`, `--force-conflicts`) and
 * `ambitctl install` rely on:
 *
 * - **Apply** (`PATCH application/apply-patch+yaml`): creates a missing object; otherwise merges the configuration
 *   into the live object (maps by field, lists by their merge semantics), removes the fields this manager applied
 *   before and no longer applies when nobody else owns them, and refuses (409) to change a field another manager
 *   owns unless forced, which moves the field to the applier. The manager's `Apply` entry then owns exactly the
 *   applied fields.
 * - **Update** (every other write through the API): the writer's `Update` entry gains the fields the write changed,
 *   which every other entry loses; fields the write removed leave every entry.
 *
 * List semantics: Kubernetes' own kinds merge the lists their Go types tag `patchMergeKey` by that one key
 * (containers by name, container ports by containerPort, Service ports by port, …) and `finalizers` as a set;
 * CRD kinds follow `x-kubernetes-list-type`/`-map-keys` of their schema; every other list is atomic. Not covered:
 * multi-field list keys (real container ports are keyed by containerPort+protocol), `x-kubernetes-map-type`,
 * `ancient-changes` compaction of Update entries, conversion of entries between versions, and ownership of fields
 * in-process controllers change (they write outside the API).
 */

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

interface Owner {
  readonly entry: Omit<ManagedFieldsEntry, 'fieldsV1'>;
  set: FieldSet;
  touched: boolean;
}

/** Metadata the API server sets, which no manager owns (fieldmanager's StripMeta). */
const SERVER_META = [
  'name',
  'namespace',
  'generateName',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
];

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The part of an object whose fields are tracked: no apiVersion/kind and no server-set metadata. */
function tracked(obj: KubeObject | undefined): Record<string, unknown> {
  if (obj === undefined) return {};
  const { apiVersion: _v, kind: _k, metadata, ...rest } = obj;
  const meta: Record<string, unknown> = { ...metadata };
  for (const f of SERVER_META) delete meta[f];
  return Object.keys(meta).length === 0 ? rest : { ...rest, metadata: meta };
}

function schemaAt(schema: SchemaNode | undefined, path: FieldPath): SchemaNode | undefined {
  let node = schema;
  for (const e of path) {
    if (node === undefined) return undefined;
    if ('field' in e) {
      const ap = node.additionalProperties;
      node = node.properties?.get(e.field) ?? (typeof ap === 'object' ? ap : undefined);
    } else node = node.items;
  }
  return node;
}

/** How each list of a kind merges (see the file comment). */
export function listResolverFor(type: ResourceType): ListResolver {
  return (path, elements) => {
    const last = path[path.length - 1];
    const name = last !== undefined && 'field' in last ? last.field : '';
    const first = path[0];
    if (path.length === 2 && first !== undefined && 'field' in first && first.field === 'metadata') {
      if (name === 'ownerReferences') return { type: 'map', keys: ['uid'] };
      if (name === 'finalizers') return { type: 'set' };
    }
    if (KUBERNETES_GROUPS.has(type.group)) {
      if (MERGED_SCALAR_LISTS.has(name)) return { type: 'set' };
      const key = mergeKeyOf(name, elements);
      return key === undefined ? { type: 'atomic' } : { type: 'map', keys: [key] };
    }
    const node = schemaAt(type.schema, path);
    if (node?.listType === 'set') return { type: 'set' };
    if (node?.listType === 'map' && node.listMapKeys !== undefined && node.listMapKeys.length > 0)
      return { type: 'map', keys: node.listMapKeys };
    return { type: 'atomic' };
  };
}

function readOwners(obj: KubeObject | undefined): Owner[] {
  const raw = obj?.metadata['managedFields'];
  if (!Array.isArray(raw)) return [];
  return raw.filter(isRecord).flatMap((e): Owner[] => {
    if (typeof e['manager'] !== 'string' || (e['operation'] !== 'Apply' && e['operation'] !== 'Update')) return [];
    return [
      {
        entry: {
          manager: e['manager'],
          operation: e['operation'],
          apiVersion: typeof e['apiVersion'] === 'string' ? e['apiVersion'] : '',
          time: typeof e['time'] === 'string' ? e['time'] : '',
          fieldsType: 'FieldsV1',
          ...(typeof e['subresource'] === 'string' && e['subresource'] !== '' ? { subresource: e['subresource'] } : {}),
        },
        set: FieldSet.fromFieldsV1(e['fieldsV1']),
        touched: false,
      },
    ];
  });
}

function writeOwners(owners: readonly Owner[], now: Date): ManagedFieldsEntry[] {
  return owners
    .filter((o) => o.set.size > 0)
    .map((o) => ({
      manager: o.entry.manager,
      operation: o.entry.operation,
      apiVersion: o.entry.apiVersion,
      time: o.touched ? rfc3339(now) : o.entry.time,
      fieldsType: 'FieldsV1',
      fieldsV1: o.set.toFieldsV1(),
      ...(o.entry.subresource === undefined ? {} : { subresource: o.entry.subresource }),
    }));
}

function ownerFor(
  owners: Owner[],
  type: ResourceType,
  manager: string,
  operation: 'Apply' | 'Update',
  subresource: string | undefined,
): Owner {
  const apiVersion = apiVersionOf(type);
  const found = owners.find(
    (o) =>
      o.entry.manager === manager &&
      o.entry.operation === operation &&
      o.entry.subresource === subresource &&
      (operation === 'Apply' || o.entry.apiVersion === apiVersion),
  );
  if (found !== undefined) return found;
  const created: Owner = {
    entry: { manager, operation, apiVersion, time: '', fieldsType: 'FieldsV1', ...(subresource === undefined ? {} : { subresource }) },
    set: new FieldSet(),
    touched: true,
  };
  owners.push(created);
  return created;
}

/** `"manager"`, plus ` using <apiVersion> at <time>` for an Update entry (fieldmanager's printManager). */
function describeOwner(o: Owner): string {
  let s = JSON.stringify(o.entry.manager);
  if (o.entry.subresource !== undefined) s += ` with subresource ${JSON.stringify(o.entry.subresource)}`;
  if (o.entry.operation === 'Update') s += ` using ${o.entry.apiVersion}${o.entry.time === '' ? '' : ` at ${o.entry.time}`}`;
  return s;
}

/** kube-apiserver's `NewConflictError`: 409 Conflict, message by manager, a FieldManagerConflict cause per field. */
function conflictError(conflicts: ReadonlyArray<{ owner: Owner; path: FieldPath }>): ApiError {
  let message: string;
  const first = conflicts[0];
  if (conflicts.length === 1 && first !== undefined) {
    message = `Apply failed with 1 conflict: conflict with ${describeOwner(first.owner)}: ${pathString(first.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts)
      byManager.set(describeOwner(c.owner), [...(byManager.get(describeOwner(c.owner)) ?? []), pathString(c.path)]);
    const lines: string[] = [];
    for (const m of [...byManager.keys()].sort()) lines.push(`conflicts with ${m}:`, ...(byManager.get(m) ?? []).map((p) => `- ${p}`));
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${describeOwner(c.owner)}`,
      field: pathString(c.path),
    })),
  });
}

export interface ApplyRequest {
  readonly type: ResourceType;
  /** The stored object; undefined: the apply creates it. */
  readonly live: KubeObject | undefined;
  /** The applied configuration, already checked against the URL (kind, apiVersion, name, namespace). */
  readonly config: KubeObject;
  readonly manager: string;
  readonly force: boolean;
  readonly subresource: 'status' | undefined;
  readonly now: Date;
}

/** The part of the configuration an endpoint applies: `status` only on /status, everything else on the main endpoint. */
function scopeOf(type: ResourceType, obj: Record<string, unknown>, subresource: 'status' | undefined): Record<string, unknown> {
  if (subresource === 'status') return obj['status'] === undefined ? {} : { status: obj['status'] };
  if (!type.hasStatus) return obj;
  const { status: _s, ...rest } = obj;
  return rest;
}

/** The object to store for an apply (create or update), with its managedFields; throws the 409 on conflicts. */
export function serverSideApply(req: ApplyRequest): KubeObject {
  const { type, live, config, manager, subresource, now } = req;
  const resolve = listResolverFor(type);
  const applied = scopeOf(type, tracked(config), subresource);
  const appliedSet = fieldSetOf(applied, resolve);
  const owners = readOwners(live);
  const me = ownerFor(owners, type, manager, 'Apply', subresource);
  const others = owners.filter((o) => o !== me);
  const ownedByOthers = (p: FieldPath): boolean => others.some((o) => o.set.has(p));

  const base = live === undefined ? { apiVersion: config.apiVersion, kind: config.kind, metadata: {} } : structuredClone(live);
  // Fields this manager applied before and has now dropped go, unless another manager still wants them.
  for (const p of me.set.minus(appliedSet).paths()) if (!ownedByOthers(p)) removeAt(base, p);
  const merged = mergeApplied(base, applied, resolve) as KubeObject;
  merged.metadata = { ...(isRecord(merged.metadata) ? merged.metadata : {}), name: config.metadata.name ?? '' };
  if (config.metadata.namespace !== undefined) merged.metadata.namespace = config.metadata.namespace;

  const changed = changedFields(scopeOf(type, tracked(live), subresource), scopeOf(type, tracked(merged), subresource), resolve);
  // Sorted by path, as structured-merge-diff iterates its sets.
  const conflicts = changed
    .intersect(appliedSet)
    .paths()
    .sort((a, b) => (pathString(a) < pathString(b) ? -1 : pathString(a) > pathString(b) ? 1 : 0))
    .flatMap((path) => others.filter((o) => o.set.has(path)).map((owner) => ({ owner, path })));
  if (conflicts.length > 0 && !req.force) throw conflictError(conflicts);
  for (const c of conflicts) c.owner.set.delete(c.path);
  if (me.set.size !== appliedSet.size || me.set.minus(appliedSet).size > 0 || changed.size > 0) me.touched = true;
  me.set = appliedSet;
  prune(owners, merged, resolve);
  const entries = writeOwners(owners, now);
  if (entries.length > 0) merged.metadata['managedFields'] = entries;
  else delete merged.metadata['managedFields'];
  return merged;
}

/** Drops from every entry the fields the object no longer has. */
function prune(owners: Owner[], obj: KubeObject, resolve: ListResolver): void {
  const present = fieldSetOf(tracked(obj), resolve);
  for (const o of owners) {
    const kept = o.set.intersect(present);
    if (kept.size !== o.set.size) o.set = kept;
  }
}

/**
 * managedFields after a non-apply write by `manager` (`fieldManager`, else the client's user-agent name): the fields
 * the write changed move to the writer's Update entry. Writes that change nothing leave the entries untouched.
 */
export function trackUpdate(
  type: ResourceType,
  old: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  subresource: 'status' | undefined,
  now: Date,
): ManagedFieldsEntry[] | undefined {
  const incoming = next.metadata['managedFields'];
  const before = old?.metadata['managedFields'];
  // A write that sets managedFields itself replaces them (kubectl does, moving ownership from client-side to server-side
  // apply); `[{}]` clears them. An empty list means "not set", so clients unaware of the field cannot strip it.
  if (Array.isArray(incoming) && incoming.length > 0 && !jsonEqual(incoming, before)) {
    const entries = readOwners(next);
    return entries.length === 0 ? undefined : writeOwners(entries, now);
  }
  const resolve = listResolverFor(type);
  const owners = readOwners(old);
  const changed = changedFields(tracked(old), tracked(next), resolve);
  if (changed.size === 0) return old === undefined ? undefined : (old.metadata['managedFields'] as ManagedFieldsEntry[] | undefined);
  const present = fieldSetOf(tracked(next), resolve);
  for (const o of owners) {
    o.set = o.set.minus(changed);
  }
  const me = ownerFor(owners, type, manager, 'Update', subresource);
  me.set = me.set.union(changed.intersect(present));
  me.touched = true;
  prune(owners, next, resolve);
  const entries = writeOwners(owners, now);
  return entries.length === 0 ? undefined : entries;
}

/** kube-apiserver's default field manager: the User-Agent up to the first `/` (`kubectl/v1.32 …` → `kubectl`), ≤128. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const name = (userAgent ?? '').split('/')[0] ?? '';
  return name.slice(0, 128);
}
