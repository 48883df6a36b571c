import assert from 'node:assert';
import { randomInt, randomUUID } from 'node:crypto';
import { isRecord, type Logger, silentLogger } from '@ambit/core';
import type { FieldError, KubeObject, ResourceType, WatchEvent } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { checkAgainstSchema, type SchemaCheckOptions } from './custom-resource.ts';
import { applyMergePatch, deepFreeze, jsonEqual } from './merge-patch.ts';
import {
  PROTECTED_NAMESPACES,
  applyCreateDefaults,
  applyUpdateDefaults,
  carryServerMeta,
  isKind,
  isScheduledPod,
  podGraceSeconds,
  rfc3339,
  specOf,
  validateObject,
} from './object-rules.ts';
import { ResourceTypeRegistry, apiVersionOf, storageKeyOf, type RegistrySnapshot } from './resource-types.ts';
import { parseSelectors } from './selectors.ts';
import { WatchHub, type HistoryEntry, type StoreEvent, type WatchHandle } from './watch-hub.ts';

export type { StoreEvent, WatchHandle } from './watch-hub.ts';

/**
 * Runs on every create and update after generic defaulting and before commit. May mutate `obj` (allocate a clusterIP,
 * pick a node) or throw an ApiError to refuse it. Runs inside the write's transaction: reads see uncommitted state,
 * and a throw rolls the write back.
 */
export interface AdmissionPlugin {
  admit(op: 'CREATE' | 'UPDATE', obj: KubeObject, old: KubeObject | undefined, store: ObjectStore): void;
}

export interface ObjectStoreOptions {
  readonly admission?: readonly AdmissionPlugin[];
  /** Committed events kept for watches that resume from a resourceVersion; default 5000. */
  readonly historyLimit?: number;
  /** Default: a registry of the built-in types. */
  readonly types?: ResourceTypeRegistry;
  /** Namespaces that exist from the start; default those of a fresh real cluster. */
  readonly namespaces?: readonly string[];
  /** Clock for timestamps; default `() => new Date()`. */
  readonly now?: () => Date;
  readonly log?: Logger;
}

export interface ListOptions {
  /** Undefined lists every namespace. */
  readonly namespace?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
}

export interface WatchOptions extends ListOptions {
  /** Deliver changes after this rv; absent, '' or '0' means from now. */
  readonly resourceVersion?: string | undefined;
}

/** `fieldValidation` applies to types with a schema (CRDs that declare one): see SchemaCheckOptions. */
export interface WriteOptions extends SchemaCheckOptions {
  /** Validate, admit and compute the result, but persist nothing and emit no event. */
  readonly dryRun?: boolean;
  /**
   * Field ownership of a write through the API: the `metadata.managedFields` to store, from the stored object before
   * the write (undefined on create) and the one about to be stored (after admission). Absent: left as written.
   */
  readonly manageFields?: (old: KubeObject | undefined, next: KubeObject) => readonly unknown[] | undefined;
}

export interface UpdateOptions extends WriteOptions {
  readonly subresource?: 'status';
}

export interface PatchOptions extends UpdateOptions {
  /** Only RFC 7386 merge patches are applied here; the HTTP layer maps other patch types or refuses them. */
  readonly patchType: 'merge';
}

export interface DeleteOptions extends WriteOptions {
  /** Pods on a node only: 0 removes at once (the node's confirmation), more waits for the node. */
  readonly gracePeriodSeconds?: number;
  /** Background (default) and Foreground both delete dependents once the owner is gone; Orphan strips their ownerReferences. */
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
}

interface Bucket {
  readonly type: ResourceType;
  readonly objects: Map<string, KubeObject>;
}

interface JournalEntry {
  readonly storageKey: string;
  readonly key: string;
  readonly prev: KubeObject | undefined;
}

interface Tx {
  readonly journal: JournalEntry[];
  readonly events: HistoryEntry[];
}

const GENERATED_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function objectKey(type: ResourceType, namespace: string | undefined, name: string): string {
  return type.namespaced ? `${namespace ?? ''}/${name}` : name;
}

function setManagedFields(obj: KubeObject, entries: readonly unknown[] | undefined): void {
  if (entries === undefined || entries.length === 0) delete obj.metadata['managedFields'];
  else obj.metadata['managedFields'] = structuredClone(entries);
}

/** Errors an admission plugin throws that are not ApiErrors but carry field causes become 422 Invalid. */
function asApiError(err: unknown, type: ResourceType, name: string): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof Error && Array.isArray((err as { causes?: unknown }).causes)) {
    return ApiError.invalid(type, name, (err as Error & { causes: FieldError[] }).causes);
  }
  return err;
}

/**
 * The local cluster's object store: in memory, synchronous, single-threaded, with the semantics of the real API
 * server's registry where clients can observe them (resourceVersions, conflicts, status subresource, graceful and
 * finalizer-blocked deletion, namespace and owner cascades, watches with selector transitions). Stored objects are
 * frozen and never changed in place (rollback relies on it); callers get copies.
 */
export class ObjectStore {
  readonly types: ResourceTypeRegistry;
  private readonly buckets = new Map<string, Bucket>();
  private readonly hub: WatchHub;
  private readonly admission: readonly AdmissionPlugin[];
  private readonly now: () => Date;
  private rv = 0;
  private tx: Tx | undefined;

  constructor(options: ObjectStoreOptions = {}) {
    this.types = options.types ?? new ResourceTypeRegistry();
    this.admission = options.admission ?? [];
    this.now = options.now ?? (() => new Date());
    this.hub = new WatchHub(options.historyLimit ?? 5000, (options.log ?? silentLogger()).child({ component: 'object-store' }));
    for (const name of options.namespaces ?? DEFAULT_NAMESPACES) {
      this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }

  /** The current (global) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** The type an object belongs to by its apiVersion and kind; 404 when nothing serves it. */
  typeOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceType {
    const t = this.types.byKind(obj.apiVersion, obj.kind);
    if (t === undefined) throw new ApiError(404, 'NotFound', `no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`);
    return t;
  }

  /** Registers an undeclared kind (see ResourceTypeRegistry.registerKind); rolled back with a failed transaction. */
  registerKind(apiVersion: string, kind: string, namespaced: boolean): ResourceType {
    return this.types.registerKind(apiVersion, kind, namespaced);
  }

  find(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.raw(type, namespace, name);
    return o === undefined ? undefined : this.out(type, o);
  }

  /** Like find, but 404 NotFound (`pods "x" not found`) when absent. */
  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    return this.out(type, this.mustGet(type, namespace, name));
  }

  list(type: ResourceType, options: ListOptions = {}): { items: KubeObject[]; resourceVersion: string } {
    const selector = parseSelectors(options.labelSelector, options.fieldSelector);
    const bucket = this.buckets.get(storageKeyOf(type));
    const items: KubeObject[] = [];
    if (bucket !== undefined) {
      const keys = [...bucket.objects.keys()].sort();
      for (const k of keys) {
        const o = bucket.objects.get(k);
        if (o === undefined) continue;
        if (options.namespace !== undefined && type.namespaced && o.metadata.namespace !== options.namespace) continue;
        if (selector.matches(o)) items.push(this.out(type, o));
      }
    }
    return { items, resourceVersion: this.resourceVersion };
  }

  /**
   * Delivers ADDED/MODIFIED/DELETED for matching changes after `resourceVersion` (replayed synchronously before this
   * returns) or from now. 410 Expired when the history no longer covers that rv; 400 for a bad selector.
   */
  watch(type: ResourceType, options: WatchOptions, onEvent: (e: WatchEvent) => void): WatchHandle {
    const selector = parseSelectors(options.labelSelector, options.fieldSelector);
    const rvText = options.resourceVersion ?? '';
    let from: number | undefined;
    if (rvText !== '' && rvText !== '0') {
      if (!/^\d+$/.test(rvText)) throw ApiError.badRequest(`invalid resource version: "${rvText}"`);
      from = Number(rvText);
    }
    const namespace = type.namespaced ? options.namespace : undefined;
    return this.hub.watch({ storageKey: storageKeyOf(type), namespace, selector }, from, onEvent);
  }

  /** Every committed change of every type, in order, after commit. Returns the unsubscribe function. */
  subscribe(onEvent: (e: StoreEvent) => void): () => void {
    return this.hub.subscribe(onEvent);
  }

  /**
   * Runs `fn` atomically: its events are delivered only if it returns; if it throws, every change it made (objects,
   * the resourceVersion counter, registered types) is undone and nothing is emitted. Nested calls roll back to their
   * own start.
   */
  transaction<T>(fn: () => T): T {
    const outer = this.tx === undefined;
    const tx: Tx = this.tx ?? { journal: [], events: [] };
    this.tx = tx;
    const mark = { journal: tx.journal.length, events: tx.events.length, rv: this.rv, types: this.types.snapshot() };
    try {
      const result = fn();
      if (outer) {
        this.tx = undefined;
        this.hub.commit(tx.events);
      }
      return result;
    } catch (err) {
      this.rollback(tx, mark);
      if (outer) this.tx = undefined;
      throw err;
    }
  }

  create(obj: KubeObject, options: WriteOptions = {}): KubeObject {
    return this.write(options.dryRun, () => {
      const type = this.typeOf(obj);
      const next = structuredClone(obj) as KubeObject;
      next.metadata = isRecord(next.metadata) ? next.metadata : {};
      const m = next.metadata;
      if (type.namespaced) {
        m.namespace = m.namespace === undefined || m.namespace === '' ? 'default' : m.namespace;
        this.checkNamespaceOpen(type, m.namespace, m.name ?? m.generateName ?? '');
      } else {
        delete m.namespace;
      }
      if ((m.name === undefined || m.name === '') && typeof m.generateName === 'string' && m.generateName !== '') {
        m.name = this.generateName(type, m.namespace, m.generateName);
      }
      if (m.name === undefined || m.name === '') {
        throw ApiError.invalid(type, '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
      }
      // Unknown fields are a decoding matter (400 under Strict), found before any validation (422).
      const schemaCauses = checkAgainstSchema(type, next, options);
      const causes = [...validateObject(type, next), ...schemaCauses];
      if (causes.length > 0) throw ApiError.invalid(type, m.name, causes);
      if (this.raw(type, m.namespace, m.name) !== undefined) throw ApiError.alreadyExists(type, m.name);
      m.uid = randomUUID();
      m.creationTimestamp = rfc3339(this.now());
      m.generation = 1;
      delete m.resourceVersion;
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
      applyCreateDefaults(type, next);
      this.admit(type, 'CREATE', next, undefined);
      if (options.manageFields !== undefined) setManagedFields(next, options.manageFields(undefined, next));
      const stored = this.put(type, next, 'ADDED', undefined);
      if (isKind(type, 'apiextensions.k8s.io', 'CustomResourceDefinition')) this.types.registerCrd(stored);
      return this.out(type, stored);
    });
  }

  /**
   * Replaces an object (optimistic concurrency when metadata.resourceVersion is set). For types with a status
   * subresource the main update keeps the stored status and `subresource: 'status'` changes nothing but status.
   */
  update(obj: KubeObject, options: UpdateOptions = {}): KubeObject {
    return this.write(options.dryRun, () => this.updateTyped(this.typeOf(obj), obj, options.subresource, options));
  }

  /** Applies an RFC 7386 merge patch to the stored object, then updates it like `update`. */
  patch(type: ResourceType, namespace: string | undefined, name: string, patch: unknown, options: PatchOptions): KubeObject {
    return this.write(options.dryRun, () => {
      const cur = this.mustGet(type, namespace, name);
      if (!isRecord(patch)) throw ApiError.badRequest('the merge patch must be a JSON object');
      const patched = applyMergePatch(cur, patch);
      if (!isRecord(patched) || !isRecord(patched['metadata'])) throw ApiError.badRequest('the patch removes metadata');
      const next = patched as KubeObject;
      const immutable: FieldError[] = [];
      for (const f of ['name', 'namespace', 'uid'] as const) {
        if (next.metadata[f] !== cur.metadata[f]) immutable.push({ field: `metadata.${f}`, message: 'Invalid value: field is immutable' });
      }
      if (immutable.length > 0) throw ApiError.invalid(type, name, immutable);
      next.apiVersion = cur.apiVersion;
      next.kind = cur.kind;
      return this.updateTyped(type, next, options.subresource, options);
    });
  }

  /**
   * Deletes as the real API server does: objects with finalizers and pods on a node are only marked (deletionTimestamp,
   * MODIFIED) and the marked object is returned; otherwise the object is removed and its final state returned.
   * Deleting a Namespace empties it first; removing an owner deletes (or orphans) its dependents.
   */
  delete(type: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): KubeObject {
    return this.write(options.dryRun, () => {
      const cur = this.mustGet(type, namespace, name);
      const pre = options.preconditions;
      if (pre?.uid !== undefined && pre.uid !== cur.metadata.uid) {
        throw ApiError.conflict(
          type,
          name,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid ?? ''}`,
        );
      }
      if (pre?.resourceVersion !== undefined && pre.resourceVersion !== cur.metadata.resourceVersion) {
        throw ApiError.conflict(
          type,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion ?? ''}`,
        );
      }
      if (options.propagationPolicy === 'Orphan') this.orphanDependents(cur);
      return this.out(type, this.deleteLive(type, cur, options.gracePeriodSeconds));
    });
  }

  // ---- internals ----

  private write<T>(dryRun: boolean | undefined, fn: () => T): T {
    if (dryRun !== true) return this.transaction(fn);
    // A dry run is a transaction that always rolls back: it goes through exactly the same checks as the real write.
    const discard = new Error('dry run');
    let result: { value: T } | undefined;
    try {
      this.transaction(() => {
        result = { value: fn() };
        throw discard;
      });
    } catch (err) {
      if (err !== discard) throw err;
    }
    assert(result !== undefined, 'BUG: dry run produced no result');
    return result.value;
  }

  private rollback(tx: Tx, mark: { journal: number; events: number; rv: number; types: RegistrySnapshot }): void {
    for (let i = tx.journal.length - 1; i >= mark.journal; i--) {
      const j = tx.journal[i];
      if (j === undefined) continue;
      const objects = this.buckets.get(j.storageKey)?.objects;
      if (objects === undefined) continue;
      if (j.prev === undefined) objects.delete(j.key);
      else objects.set(j.key, j.prev);
    }
    tx.journal.length = mark.journal;
    tx.events.length = mark.events;
    this.rv = mark.rv;
    this.types.restore(mark.types);
  }

  private raw(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.buckets.get(storageKeyOf(type))?.objects.get(objectKey(type, namespace, name));
  }

  private mustGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const o = this.raw(type, namespace, name);
    if (o === undefined) throw ApiError.notFound(type, name);
    return o;
  }

  /** A caller's copy, in the version the caller asked for (CRD versions share storage; conversion is `None`). */
  private out(type: ResourceType, o: KubeObject): KubeObject {
    const copy = structuredClone(o) as KubeObject;
    copy.apiVersion = apiVersionOf(type);
    copy.kind = type.kind;
    return copy;
  }

  private bucket(type: ResourceType): Bucket {
    const k = storageKeyOf(type);
    let b = this.buckets.get(k);
    if (b === undefined) {
      b = { type, objects: new Map() };
      this.buckets.set(k, b);
    }
    return b;
  }

  private emit(type: ResourceType, event: StoreEvent): void {
    const entry: HistoryEntry = { rv: this.rv, storageKey: storageKeyOf(type), event };
    assert(this.tx !== undefined, 'BUG: store write outside a transaction');
    this.tx.events.push(entry);
  }

  /** Stores `obj` (stamping a new resourceVersion) and records the event. */
  private put(type: ResourceType, obj: KubeObject, eventType: 'ADDED' | 'MODIFIED', old: KubeObject | undefined): KubeObject {
    this.rv++;
    const stored = structuredClone(obj) as KubeObject;
    stored.metadata.resourceVersion = String(this.rv);
    deepFreeze(stored);
    const b = this.bucket(type);
    const key = objectKey(type, stored.metadata.namespace, stored.metadata.name ?? '');
    this.tx?.journal.push({ storageKey: storageKeyOf(type), key, prev: b.objects.get(key) });
    b.objects.set(key, stored);
    this.emit(type, old === undefined ? { type: eventType, object: stored } : { type: eventType, object: stored, oldObject: old });
    return stored;
  }

  /** Removes `final` (the object's last state), then runs what removal triggers. */
  private remove(type: ResourceType, final: KubeObject): KubeObject {
    this.rv++;
    const gone = structuredClone(final) as KubeObject;
    gone.metadata.resourceVersion = String(this.rv);
    deepFreeze(gone);
    const b = this.bucket(type);
    const key = objectKey(type, gone.metadata.namespace, gone.metadata.name ?? '');
    this.tx?.journal.push({ storageKey: storageKeyOf(type), key, prev: b.objects.get(key) });
    b.objects.delete(key);
    this.emit(type, { type: 'DELETED', object: gone });
    this.afterRemove(type, gone);
    return gone;
  }

  private afterRemove(type: ResourceType, gone: KubeObject): void {
    if (isKind(type, 'apiextensions.k8s.io', 'CustomResourceDefinition')) {
      const spec = isRecord(gone['spec']) ? gone['spec'] : {};
      const names = isRecord(spec['names']) ? spec['names'] : {};
      const group = String(spec['group'] ?? '');
      const plural = String(names['plural'] ?? '');
      const served = this.types.byGroupResource(group, plural);
      if (served !== undefined) {
        // The emptied bucket stays: rollback restores into it.
        for (const o of [...this.bucket(served).objects.values()]) this.remove(served, o);
      }
      this.types.unregister(group, plural);
    }
    const uid = gone.metadata.uid;
    if (uid !== undefined) {
      for (const { type: depType, objects } of [...this.buckets.values()]) {
        for (const dep of [...objects.values()]) {
          if (dep.metadata.deletionTimestamp !== undefined) continue;
          if (!(dep.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) continue;
          // Re-read: an earlier cascade step may already have removed it.
          const live = this.raw(depType, dep.metadata.namespace, dep.metadata.name ?? '');
          if (live !== undefined) this.deleteLive(depType, live, undefined);
        }
      }
    }
    if (type.namespaced && gone.metadata.namespace !== undefined) this.maybeFinishNamespace(gone.metadata.namespace);
  }

  private orphanDependents(owner: KubeObject): void {
    const uid = owner.metadata.uid;
    for (const { type, objects } of [...this.buckets.values()]) {
      for (const dep of [...objects.values()]) {
        const refs = dep.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === uid)) continue;
        const next = structuredClone(dep) as KubeObject;
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.put(type, next, 'MODIFIED', dep);
      }
    }
  }

  private deleteLive(type: ResourceType, cur: KubeObject, gracePeriodSeconds: number | undefined): KubeObject {
    if (isKind(type, '', 'Namespace')) return this.deleteNamespace(type, cur);
    const finalizers = cur.metadata.finalizers ?? [];
    const deleting = cur.metadata.deletionTimestamp !== undefined;
    if (isScheduledPod(type, cur)) {
      const grace = Math.max(0, gracePeriodSeconds ?? podGraceSeconds(cur));
      if (grace === 0 && finalizers.length === 0) return this.remove(type, cur);
      // A repeated delete may only shorten the grace period, as with the real API server.
      const current = cur.metadata.deletionGracePeriodSeconds;
      if (deleting && current !== undefined && current <= grace) return cur;
      return this.mark(type, cur, grace);
    }
    if (finalizers.length > 0) return deleting ? cur : this.mark(type, cur, 0);
    return this.remove(type, cur);
  }

  /** Sets deletionTimestamp (now + grace, the time by which it should be gone) and the grace period. */
  private mark(type: ResourceType, cur: KubeObject, graceSeconds: number): KubeObject {
    const next = structuredClone(cur) as KubeObject;
    next.metadata.deletionTimestamp = rfc3339(new Date(this.now().getTime() + graceSeconds * 1000));
    next.metadata.deletionGracePeriodSeconds = graceSeconds;
    return this.put(type, next, 'MODIFIED', cur);
  }

  private deleteNamespace(type: ResourceType, cur: KubeObject): KubeObject {
    const name = cur.metadata.name ?? '';
    if (PROTECTED_NAMESPACES.has(name)) throw ApiError.forbidden(type, name, 'this namespace may not be deleted');
    let marked = cur;
    if (cur.metadata.deletionTimestamp === undefined) {
      const next = structuredClone(cur) as KubeObject;
      next.metadata.deletionTimestamp = rfc3339(this.now());
      next.metadata.deletionGracePeriodSeconds = 0;
      next['status'] = { ...(isRecord(next['status']) ? next['status'] : {}), phase: 'Terminating' };
      marked = this.put(type, next, 'MODIFIED', cur);
    }
    for (const { type: t, objects } of [...this.buckets.values()]) {
      if (!t.namespaced) continue;
      for (const o of [...objects.values()]) {
        if (o.metadata.namespace !== name || o.metadata.deletionTimestamp !== undefined) continue;
        const live = this.raw(t, name, o.metadata.name ?? '');
        if (live !== undefined) this.deleteLive(t, live, undefined);
      }
    }
    this.maybeFinishNamespace(name);
    // Like the real server, answer with the terminating namespace even when it is already gone.
    return this.raw(type, undefined, name) ?? marked;
  }

  private maybeFinishNamespace(name: string): void {
    const nsType = this.types.byKind('v1', 'Namespace');
    if (nsType === undefined) return;
    const ns = this.raw(nsType, undefined, name);
    if (ns?.metadata.deletionTimestamp === undefined || (ns.metadata.finalizers ?? []).length > 0) return;
    for (const { type, objects } of this.buckets.values()) {
      if (!type.namespaced) continue;
      for (const o of objects.values()) if (o.metadata.namespace === name) return;
    }
    this.remove(nsType, ns);
  }

  private checkNamespaceOpen(type: ResourceType, namespace: string, name: string): void {
    const nsType = this.types.byKind('v1', 'Namespace');
    const ns = nsType === undefined ? undefined : this.raw(nsType, undefined, namespace);
    if (ns === undefined) throw ApiError.notFound({ group: '', plural: 'namespaces', kind: 'Namespace' }, namespace);
    if (ns.metadata.deletionTimestamp !== undefined) {
      throw ApiError.forbidden(type, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private generateName(type: ResourceType, namespace: string | undefined, prefix: string): string {
    // The real limit: 63 - 5 random characters (names.SimpleNameGenerator).
    const base = prefix.slice(0, 58);
    for (let attempt = 0; attempt < 16; attempt++) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)] ?? 'x';
      if (this.raw(type, namespace, base + suffix) === undefined) return base + suffix;
    }
    throw ApiError.alreadyExists(type, `${base}*`);
  }

  private admit(type: ResourceType, op: 'CREATE' | 'UPDATE', obj: KubeObject, old: KubeObject | undefined): void {
    for (const plugin of this.admission) {
      try {
        plugin.admit(op, obj, old === undefined ? undefined : (structuredClone(old) as KubeObject), this);
      } catch (err) {
        throw asApiError(err, type, obj.metadata.name ?? '');
      }
    }
  }

  private updateTyped(type: ResourceType, obj: KubeObject, subresource: 'status' | undefined, options: WriteOptions): KubeObject {
    if (!isRecord(obj.metadata)) throw ApiError.badRequest('metadata must be an object');
    const name = obj.metadata.name ?? '';
    const cur = this.mustGet(type, obj.metadata.namespace ?? (type.namespaced ? 'default' : undefined), name);
    const m = obj.metadata;
    if (m.resourceVersion !== undefined && m.resourceVersion !== '' && m.resourceVersion !== cur.metadata.resourceVersion) {
      throw ApiError.conflict(type, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    if (m.uid !== undefined && m.uid !== '' && m.uid !== cur.metadata.uid) {
      throw ApiError.invalid(type, name, [{ field: 'metadata.uid', message: `Invalid value: "${m.uid}": field is immutable` }]);
    }
    if (subresource === 'status' && !type.hasStatus) throw ApiError.noResource();
    let next: KubeObject;
    if (subresource === 'status') {
      next = structuredClone(cur) as KubeObject;
      if (obj['status'] === undefined) delete next['status'];
      else next['status'] = structuredClone(obj['status']);
    } else {
      next = structuredClone(obj) as KubeObject;
      carryServerMeta(next.metadata, cur.metadata);
      applyUpdateDefaults(type, next);
      if (type.hasStatus) {
        if (cur['status'] === undefined) delete next['status'];
        else next['status'] = structuredClone(cur['status']);
      }
    }
    // The whole object is checked against the schema, status included, whichever endpoint changed it.
    const schemaCauses = checkAgainstSchema(type, next, options);
    const causes = [...(subresource === 'status' ? [] : validateObject(type, next)), ...schemaCauses];
    if (causes.length > 0) throw ApiError.invalid(type, name, causes);
    next.apiVersion = cur.apiVersion;
    next.kind = cur.kind;
    this.admit(type, 'UPDATE', next, cur);
    if (options.manageFields !== undefined) setManagedFields(next, options.manageFields(cur, next));
    if (!jsonEqual(specOf(next), specOf(cur))) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    next.metadata.resourceVersion = cur.metadata.resourceVersion ?? '';
    // A no-op write is not written (no rv bump, no event), like etcd3's GuaranteedUpdate: controllers that write
    // unconditionally do not then wake each other up forever.
    if (jsonEqual(next, cur)) return this.out(type, cur);
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0) {
      if (isKind(type, '', 'Namespace')) {
        const stored = this.put(type, next, 'MODIFIED', cur);
        this.maybeFinishNamespace(name);
        return this.out(type, this.raw(type, undefined, name) ?? stored);
      }
      const waitsForNode = isScheduledPod(type, next) && (next.metadata.deletionGracePeriodSeconds ?? 0) > 0;
      // The update that empties the finalizers of a deleting object removes it (one DELETED, as the real registry).
      if (!waitsForNode) return this.out(type, this.remove(type, next));
    }
    const stored = this.put(type, next, 'MODIFIED', cur);
    if (isKind(type, 'apiextensions.k8s.io', 'CustomResourceDefinition')) this.types.registerCrd(stored);
    return this.out(type, stored);
  }
}
