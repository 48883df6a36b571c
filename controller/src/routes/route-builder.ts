import { describeObject, isRecord, KubeObjectError, kubeObjectReader } from '@ambit/core';
import { routeSetKey, type RouteParent, type RouteSet } from '@ambit/core/routes';
import { ChangeTracker } from '../model/change-tracker.ts';
import { addTo, removeFrom } from '../model/key-index.ts';
import { parseNamespace, parseService, type ServiceView } from '../model/kube-objects.ts';
import type { ModelChange, ModelError } from '../model/model-types.ts';
import { NamespacedStore } from '../model/namespaced-store.ts';
import { AMBIT_VERSION, parseHttpFault, type HttpFaultView } from '../traffic/ambit-objects.ts';
import { assembleRouteSet, creationMs, type AttachedRoute } from './precedence.ts';
import { GATEWAY_GROUP, parseRoute, ROUTE_KINDS, type RouteKind, type RouteView } from './route-objects.ts';
import { parseReferenceGrant, parseRouteGateway, type ReferenceGrantView, type RouteGatewayView } from './route-references.ts';
import { resolveParent, resolveRules, type ResolvedRules, type RouteWorld } from './route-resolve.ts';
import { routeParentStatuses, type RouteParentStatus } from './route-status.ts';

/** Our status entries of one route, plus what a conditional write needs. */
export interface RouteStatusUpdate {
  readonly kind: RouteKind;
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly parents: readonly RouteParentStatus[];
  /** Other controllers' entries as last seen, to be written back unchanged. */
  readonly otherParents: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export interface RouteDelta {
  /** xDS-ready: sets whose content changed, and keys (routeSetKey) of parents that no longer have any route. */
  readonly sets: { readonly upserted: readonly RouteSet[]; readonly removed: readonly string[] };
  readonly status: readonly RouteStatusUpdate[];
  /** Routes deleted in this apply: their status is no longer wanted. */
  readonly deletedRoutes: ReadonlyArray<{ readonly kind: RouteKind; readonly namespace: string; readonly name: string }>;
  readonly errors: readonly ModelError[];
}

interface RouteRecord {
  readonly view: RouteView;
  readonly resolved: ResolvedRules;
  /** routeSetKeys of the parents this route is attached to. */
  readonly parents: ReadonlySet<string>;
  /** Index keys (`Service/ns/name`, `Gateway/ns/name`) of every parentRef, attached or not. */
  readonly parentRefKeys: ReadonlySet<string>;
  /** JSON of our last emitted status entries. */
  readonly statusJson: string;
}

type WatchedKind = RouteKind | 'Service' | 'Gateway' | 'ReferenceGrant' | 'Namespace' | 'HTTPFault';

const KINDS: Readonly<Record<string, readonly WatchedKind[]>> = {
  v1: ['Service', 'Namespace'],
  'gateway.networking.k8s.io/v1': [...ROUTE_KINDS, 'Gateway'],
  'gateway.networking.k8s.io/v1beta1': ['HTTPRoute', 'Gateway', 'ReferenceGrant'],
  'gateway.networking.k8s.io/v1alpha2': ['GRPCRoute', 'ReferenceGrant'],
  [AMBIT_VERSION]: ['HTTPFault'],
};

/**
 * Gateway API routes in, route sets out (contract 1): one RouteSet per route parent, recomputed only where an event
 * can change it, and the `status.parents` entries that are ours. Dependencies are indexed so that
 * - a route change re-resolves that route and rebuilds the sets of its old and new parents;
 * - a Service change re-resolves the routes that name it as a backend or as a parent;
 * - a ReferenceGrant change re-resolves the routes that refer into its namespace from another;
 * - a Gateway change re-resolves the routes that name it; a Namespace label change, the routes of that namespace that
 *   name a Gateway (allowedRoutes selectors);
 * - an HTTPFault change re-resolves the routes whose ExtensionRef filters name it. An HTTPFault that does not read
 *   keeps its last good version here (its own status, written by the traffic builder, names the field).
 * A set for `Service/ns/host:port` also holds the routes attached to the whole Service, because they apply on that
 * port too; a waypoint looks up the port's set first and falls back to the Service's.
 * A route that does not parse keeps its last good version (reported in `errors`), as the model does with policies.
 */
export class RouteBuilder {
  private readonly routes = new Map<string, RouteRecord>();
  private readonly services = new NamespacedStore<ServiceView>();
  private readonly gateways = new NamespacedStore<RouteGatewayView>();
  private readonly grants = new NamespacedStore<ReferenceGrantView>();
  private readonly namespaceLabels = new Map<string, Readonly<Record<string, string>>>();
  private readonly faults = new NamespacedStore<HttpFaultView>();

  /** `ns/name` of a Service → routes with a backendRef to it. */
  private readonly byBackend = new Map<string, Set<string>>();
  /** Namespace → routes from other namespaces with a backendRef into it. */
  private readonly byGrantNamespace = new Map<string, Set<string>>();
  /** `Service/ns/name` or `Gateway/ns/name` → routes with a parentRef to it. */
  private readonly byParentRef = new Map<string, Set<string>>();
  /** `ns/name` of an HTTPFault → routes with an ExtensionRef to it. */
  private readonly byFault = new Map<string, Set<string>>();
  /** routeSetKey → routes attached to that parent. */
  private readonly members = new Map<string, Set<string>>();
  /** `ns/hostname` → ports that have a port-specific set, so a whole-Service change rebuilds them too. */
  private readonly portSets = new Map<string, Set<number>>();
  private readonly parentsByKey = new Map<string, RouteParent>();

  private readonly setsOut = new ChangeTracker<RouteSet>();
  private status: RouteStatusUpdate[] = [];
  private deleted: Array<{ kind: RouteKind; namespace: string; name: string }> = [];
  private errors: ModelError[] = [];
  private readonly dirtySets = new Set<string>();

  private readonly world: RouteWorld = {
    service: (ns, name) => this.services.get(ns, name),
    gateway: (ns, name) => this.gateways.get(ns, name),
    grants: (ns) => this.grants.inNamespace(ns),
    namespaceLabels: (ns) => this.namespaceLabels.get(ns) ?? {},
    fault: (ns, name) => this.faults.get(ns, name),
  };

  apply(change: ModelChange): RouteDelta {
    try {
      this.dispatch(change);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      this.errors.push({ object: err.object, field: err.field, message: err.message });
    }
    for (const key of this.dirtySets) this.rebuildSet(key);
    this.dirtySets.clear();
    return this.takeDelta();
  }

  /** Every current set, sorted by key (debug dumps, tests). */
  snapshot(): RouteSet[] {
    return this.setsOut.sortedValues();
  }

  private dispatch(change: ModelChange): void {
    if (!isRecord(change.object)) return;
    const r = kubeObjectReader(describeObject(change.object));
    const apiVersion = r.name(change.object['apiVersion'], 'apiVersion');
    const objectKind = r.name(change.object['kind'], 'kind');
    const kind = KINDS[apiVersion]?.find((k) => k === objectKind);
    if (kind === undefined) return;
    const meta = r.record(change.object['metadata'], 'metadata');
    const namespace = kind === 'Namespace' ? '' : r.name(meta['namespace'], 'metadata.namespace');
    const name = r.name(meta['name'], 'metadata.name');
    const upsert = change.type === 'upsert';
    switch (kind) {
      case 'HTTPRoute':
      case 'GRPCRoute':
        if (upsert) this.putRoute(parseRoute(change.object));
        else this.deleteRoute(kind, namespace, name);
        return;
      case 'Service':
        if (upsert) this.services.set(namespace, name, parseService(change.object));
        else this.services.delete(namespace, name);
        this.reresolve([
          ...(this.byBackend.get(`${namespace}/${name}`) ?? []),
          ...(this.byParentRef.get(`Service/${namespace}/${name}`) ?? []),
        ]);
        return;
      case 'Gateway':
        if (upsert) this.gateways.set(namespace, name, parseRouteGateway(change.object));
        else this.gateways.delete(namespace, name);
        this.reresolve(this.byParentRef.get(`Gateway/${namespace}/${name}`) ?? []);
        return;
      case 'HTTPFault': {
        if (upsert) {
          let view: HttpFaultView;
          try {
            view = parseHttpFault(change.object);
          } catch (err) {
            // The last good version stays in force; the traffic builder reports the problem in the object's status.
            if (err instanceof KubeObjectError) return;
            throw err;
          }
          this.faults.set(namespace, name, view);
        } else {
          this.faults.delete(namespace, name);
        }
        this.reresolve(this.byFault.get(`${namespace}/${name}`) ?? []);
        return;
      }
      case 'ReferenceGrant':
        if (upsert) this.grants.set(namespace, name, parseReferenceGrant(change.object));
        else this.grants.delete(namespace, name);
        this.reresolve(this.byGrantNamespace.get(namespace) ?? []);
        return;
      case 'Namespace': {
        const labels = upsert ? parseNamespace(change.object).meta.labels : {};
        const old = this.namespaceLabels.get(name) ?? {};
        if (upsert) this.namespaceLabels.set(name, labels);
        else this.namespaceLabels.delete(name);
        if (JSON.stringify(old) === JSON.stringify(labels)) return;
        const affected = [...this.routes.entries()].filter(
          ([, rec]) => rec.view.meta.namespace === name && [...rec.parentRefKeys].some((k) => k.startsWith('Gateway/')),
        );
        this.reresolve(affected.map(([key]) => key));
        return;
      }
    }
  }

  private putRoute(view: RouteView): void {
    const key = routeKey(view.kind, view.meta.namespace, view.meta.name);
    this.resolve(key, view, true);
  }

  private deleteRoute(kind: RouteKind, namespace: string, name: string): void {
    const key = routeKey(kind, namespace, name);
    const old = this.routes.get(key);
    if (old === undefined) return;
    this.unindex(key, old);
    this.routes.delete(key);
    for (const p of old.parents) this.dirtySets.add(p);
    this.deleted.push({ kind, namespace, name });
  }

  private reresolve(keys: Iterable<string>): void {
    for (const key of new Set(keys)) {
      const rec = this.routes.get(key);
      if (rec !== undefined) this.resolve(key, rec.view, false);
    }
  }

  /**
   * (Re)computes one route: its rules and backends, its parents, its status. `fromEvent`: the route object itself
   * changed, so its status is offered again even if ours did not change (a fresh resourceVersion lets a write that
   * lost a conflict go through; the writer skips unchanged bodies).
   */
  private resolve(key: string, view: RouteView, fromEvent: boolean): void {
    const old = this.routes.get(key);
    const resolved = resolveRules(view, this.world);
    const decisions = view.parentRefs.map((ref) => ({ ref, decision: resolveParent(view, ref, this.world) }));
    const parents = new Set<string>();
    if (view.rules.length > 0) {
      for (const { decision } of decisions) {
        if (decision.kind !== 'attached') continue;
        const setKey = routeSetKey(decision.parent);
        parents.add(setKey);
        this.parentsByKey.set(setKey, decision.parent);
      }
    }
    const ours = routeParentStatuses(view, decisions, resolved.problems);
    const statusJson = JSON.stringify(ours);
    const rec: RouteRecord = {
      view,
      resolved,
      parents,
      parentRefKeys: new Set(view.parentRefs.flatMap((p) => parentRefKey(p.group, p.kind, p.namespace, p.name) ?? [])),
      statusJson,
    };
    if (old !== undefined) this.unindex(key, old);
    this.routes.set(key, rec);
    this.index(key, rec);
    for (const p of old?.parents ?? []) this.dirtySets.add(p);
    for (const p of parents) this.dirtySets.add(p);
    const hadOurs = view.hasOurParents || (old !== undefined && old.statusJson !== '[]');
    if ((fromEvent || old?.statusJson !== statusJson) && (ours.length > 0 || hadOurs)) {
      const { namespace, name } = view.meta;
      this.status.push({
        kind: view.kind,
        namespace,
        name,
        parents: ours,
        otherParents: view.otherParents,
        ...(view.generation === undefined ? {} : { generation: view.generation }),
        ...(view.resourceVersion === undefined ? {} : { resourceVersion: view.resourceVersion }),
      });
    }
  }

  private index(key: string, rec: RouteRecord): void {
    for (const s of rec.resolved.services) addTo(this.byBackend, s, key);
    for (const ns of rec.resolved.grantNamespaces) addTo(this.byGrantNamespace, ns, key);
    for (const f of rec.resolved.faults) addTo(this.byFault, f, key);
    for (const p of rec.parentRefKeys) addTo(this.byParentRef, p, key);
    for (const p of rec.parents) addTo(this.members, p, key);
  }

  private unindex(key: string, rec: RouteRecord): void {
    for (const s of rec.resolved.services) removeFrom(this.byBackend, s, key);
    for (const ns of rec.resolved.grantNamespaces) removeFrom(this.byGrantNamespace, ns, key);
    for (const f of rec.resolved.faults) removeFrom(this.byFault, f, key);
    for (const p of rec.parentRefKeys) removeFrom(this.byParentRef, p, key);
    for (const p of rec.parents) removeFrom(this.members, p, key);
  }

  /** Rebuilds one parent's set; a whole-Service parent also rebuilds its port-specific sets, which include it. */
  private rebuildSet(setKey: string): void {
    const parent = this.parentsByKey.get(setKey);
    if (parent === undefined) return;
    if (parent.kind === 'Service' && parent.port === undefined) {
      for (const port of this.portSets.get(`${parent.namespace}/${parent.hostname}`) ?? []) {
        this.rebuildOne(routeSetKey({ ...parent, port }));
      }
    }
    this.rebuildOne(setKey);
  }

  private rebuildOne(setKey: string): void {
    const parent = this.parentsByKey.get(setKey);
    if (parent === undefined) return;
    const keys = new Set(this.members.get(setKey) ?? []);
    const serviceKey = parent.kind === 'Service' ? `${parent.namespace}/${parent.hostname}` : undefined;
    if (parent.kind === 'Service' && parent.port !== undefined && serviceKey !== undefined) {
      const own = this.members.get(setKey)?.size ?? 0;
      const ports = this.portSets.get(serviceKey) ?? new Set<number>();
      if (own > 0) ports.add(parent.port);
      else ports.delete(parent.port);
      if (ports.size > 0) this.portSets.set(serviceKey, ports);
      else this.portSets.delete(serviceKey);
      if (own === 0) {
        // Without routes of its own the port's set would equal the Service's: it is not published.
        this.setsOut.delete(setKey);
        this.parentsByKey.delete(setKey);
        return;
      }
      for (const k of this.members.get(routeSetKey({ kind: 'Service', namespace: parent.namespace, hostname: parent.hostname })) ?? [])
        keys.add(k);
    }
    if (keys.size === 0) {
      this.setsOut.delete(setKey);
      this.parentsByKey.delete(setKey);
      return;
    }
    const attached: AttachedRoute[] = [];
    for (const k of keys) {
      const rec = this.routes.get(k);
      if (rec === undefined) continue;
      attached.push({
        kind: rec.view.kind,
        createdMs: creationMs(rec.view.meta.creationTimestamp),
        namespacedName: `${rec.view.meta.namespace}/${rec.view.meta.name}`,
        rules: rec.resolved.rules,
      });
    }
    this.setsOut.set(setKey, assembleRouteSet(parent, attached));
  }

  private takeDelta(): RouteDelta {
    const changes = this.setsOut.takeChanges();
    const delta: RouteDelta = {
      sets: { upserted: changes.upserted.map(([, v]) => v), removed: changes.removed },
      status: this.status,
      deletedRoutes: this.deleted,
      errors: this.errors,
    };
    this.status = [];
    this.deleted = [];
    this.errors = [];
    return delta;
  }
}

export function routeKey(kind: RouteKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The index key of a parentRef that can be ours; undefined for other kinds. */
function parentRefKey(group: string, kind: string, namespace: string, name: string): string | undefined {
  if (group === '' && kind === 'Service') return `Service/${namespace}/${name}`;
  if (group === GATEWAY_GROUP && kind === 'Gateway') return `Gateway/${namespace}/${name}`;
  return undefined;
}
