import { isDeepStrictEqual } from 'node:util';
import { asRecord, type Logger } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { selectorString } from '../api/scale.ts';
import { WorkQueue } from '../cluster/work-queue.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { parseLabelSelector } from '../store/selectors.ts';
import { policyOf, type RbacPolicy } from './rbac.ts';

const RBAC_GROUP_PREFIX = 'rbac.authorization.k8s.io/';
const KINDS = ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'] as const;

function isRbac(obj: KubeObject): boolean {
  return obj.apiVersion.startsWith(RBAC_GROUP_PREFIX);
}

function listKind(store: ObjectStore, kind: (typeof KINDS)[number]): KubeObject[] {
  return store.list(store.typeOf({ apiVersion: 'rbac.authorization.k8s.io/v1', kind })).items;
}

/**
 * The store's RBAC objects as the authorizer reads them on every request: parsed once into an index, rebuilt on the
 * first request after any RBAC object changed (a change is visible to the very next request, as the store commits
 * synchronously).
 */
export function createStorePolicy(store: ObjectStore): { readonly policy: RbacPolicy; close(): void } {
  let index: RbacPolicy | undefined;
  const unsubscribe = store.subscribe((e) => {
    if (isRbac(e.object)) index = undefined;
  });
  const current = (): RbacPolicy => (index ??= policyOf(KINDS.flatMap((k) => listKind(store, k))));
  return {
    policy: {
      clusterRoleBindings: () => current().clusterRoleBindings(),
      roleBindings: (ns) => current().roleBindings(ns),
      clusterRoleRules: (name) => current().clusterRoleRules(name),
      roleRules: (ns, name) => current().roleRules(ns, name),
    },
    close: unsubscribe,
  };
}

/**
 * kube-controller-manager's ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` gets as its
 * `rules` the union of the rules of every other ClusterRole its `clusterRoleSelectors` match (in name order,
 * duplicates dropped), rewritten whenever one of them changes.
 */
export function startClusterRoleAggregation(store: ObjectStore, log: Logger): { stop(): Promise<void> } {
  const type = store.typeOf({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' });
  const reconcile = (name: string): void => {
    const role = store.find(type, undefined, name);
    const rule = role === undefined ? undefined : role['aggregationRule'];
    if (role === undefined || rule === undefined || rule === null) return;
    const selectors = asRecord(rule)['clusterRoleSelectors'];
    const parsed = (Array.isArray(selectors) ? selectors : []).map((s) => parseLabelSelector(selectorString(s)));
    const rules: unknown[] = [];
    for (const other of store.list(type).items) {
      if (other.metadata.name === name || !parsed.some((s) => s.matches(other))) continue;
      for (const r of Array.isArray(other['rules']) ? other['rules'] : []) if (!rules.some((x) => isDeepStrictEqual(x, r))) rules.push(r);
    }
    if (isDeepStrictEqual(role['rules'] ?? [], rules)) return;
    const { resourceVersion: _rv, ...metadata } = role.metadata;
    store.update({ ...role, metadata, rules });
  };
  const queue = new WorkQueue(reconcile, log.child({ controller: 'clusterrole-aggregation' }));
  const aggregated = (): string[] =>
    store
      .list(type)
      .items.filter((r) => r['aggregationRule'] !== undefined && r['aggregationRule'] !== null)
      .map((r) => r.metadata.name ?? '');
  const unsubscribe = store.subscribe((e) => {
    // Any ClusterRole change may change what an aggregated role selects (its labels) or collects (its rules).
    if (e.object.kind === 'ClusterRole' && isRbac(e.object)) for (const n of aggregated()) queue.add(n);
  });
  for (const n of aggregated()) queue.add(n);
  return {
    stop: async () => {
      unsubscribe();
      await queue.stop();
    },
  };
}
