import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { RequestInfo } from './request-info.ts';
import type { UserInfo } from './tokens.ts';

/**
 * RBAC as kube-apiserver's authorizer evaluates it (plugin/pkg/auth/authorizer/rbac/rbac.go and
 * pkg/apis/rbac/v1/evaluation_helpers.go): ClusterRoleBindings grant their ClusterRole's rules everywhere, a
 * RoleBinding grants its Role's or ClusterRole's rules in its own namespace only, and the first rule that covers the
 * request allows it. There is no deny: everything not allowed is refused.
 */

export interface PolicyRule {
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames: readonly string[];
  readonly nonResourceURLs: readonly string[];
}

export interface Subject {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

export interface RoleRef {
  readonly kind: string;
  readonly name: string;
}

export interface Binding {
  readonly kind: 'ClusterRoleBinding' | 'RoleBinding';
  readonly name: string;
  /** '' for ClusterRoleBindings. */
  readonly namespace: string;
  readonly roleRef: RoleRef;
  readonly subjects: readonly Subject[];
}

/** The RBAC objects of a cluster, as the authorizer reads them. */
export interface RbacPolicy {
  clusterRoleBindings(): readonly Binding[];
  roleBindings(namespace: string): readonly Binding[];
  /** Undefined when the ClusterRole does not exist. */
  clusterRoleRules(name: string): readonly PolicyRule[] | undefined;
  roleRules(namespace: string, name: string): readonly PolicyRule[] | undefined;
}

/** What is asked, by whom: RequestInfo plus the user (authorizer.Attributes). */
export interface Attributes extends RequestInfo {
  readonly user: UserInfo;
}

export interface Decision {
  readonly allowed: boolean;
  /** Why: `RBAC: allowed by …` when allowed; on a denial, broken references met on the way (`RBAC: …`), else ''. */
  readonly reason: string;
}

/** The group kube-apiserver's privileged-group authorizer allows everything, before RBAC is asked. */
export const SYSTEM_MASTERS = 'system:masters';

export function authorize(policy: RbacPolicy, attrs: Attributes): Decision {
  if (attrs.user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
  const errors: string[] = [];
  let allowedBy: string | undefined;
  visitRules(policy, attrs.user, attrs.namespace, errors, (rule, source) => {
    if (!ruleAllows(attrs, rule)) return false;
    allowedBy = source;
    return true;
  });
  if (allowedBy !== undefined) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
  return { allowed: false, reason: errors.length === 0 ? '' : `RBAC: ${aggregate(errors)}` };
}

/** Every rule that applies to the user in a namespace ('' = cluster-wide rules only), for SelfSubjectRulesReview. */
export function rulesFor(policy: RbacPolicy, user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRules(policy, user, namespace, errors, (rule) => {
    rules.push(rule);
    return false;
  });
  return { rules, errors };
}

/** Walks the user's rules in upstream's order (cluster bindings, then the namespace's); `visit` returning true stops. */
function visitRules(
  policy: RbacPolicy,
  user: UserInfo,
  namespace: string,
  errors: string[],
  visit: (rule: PolicyRule, source: string) => boolean,
): void {
  const walk = (binding: Binding): boolean => {
    const subject = binding.subjects.find((s) => appliesTo(user, s, binding.namespace));
    if (subject === undefined) return false;
    const rules = roleRules(policy, binding);
    if (rules === undefined) {
      const kind = binding.roleRef.kind === 'Role' ? 'role' : 'clusterrole';
      errors.push(`${kind}.rbac.authorization.k8s.io "${binding.roleRef.name}" not found`);
      return false;
    }
    const source =
      binding.kind === 'ClusterRoleBinding'
        ? `ClusterRoleBinding "${binding.name}" of ${binding.roleRef.kind} "${binding.roleRef.name}" to ${describeSubject(subject, '')}`
        : `RoleBinding "${binding.name}/${binding.namespace}" of ${binding.roleRef.kind} "${binding.roleRef.name}" to ${describeSubject(subject, binding.namespace)}`;
    return rules.some((rule) => visit(rule, source));
  };
  if (policy.clusterRoleBindings().some(walk)) return;
  if (namespace !== '') policy.roleBindings(namespace).some(walk);
}

function roleRules(policy: RbacPolicy, binding: Binding): readonly PolicyRule[] | undefined {
  const { kind, name } = binding.roleRef;
  if (kind === 'ClusterRole') return policy.clusterRoleRules(name);
  // A ClusterRoleBinding can only reference a ClusterRole (validation refuses anything else).
  if (kind === 'Role' && binding.kind === 'RoleBinding') return policy.roleRules(binding.namespace, name);
  return undefined;
}

/** rbac.go appliesToUser: a ServiceAccount subject without a namespace means the binding's. */
export function appliesTo(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace === '' ? bindingNamespace : subject.namespace;
      return ns !== '' && user.username === `system:serviceaccount:${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} "${s.name}/${s.namespace === '' ? bindingNamespace : s.namespace}"`;
  return `${s.kind} "${s.name}"`;
}

/** Upstream RuleAllows: verb, group, resource (a "*" + "/sub" rule means that subresource of any resource), name or URL. */
export function ruleAllows(attrs: RequestInfo, rule: PolicyRule): boolean {
  if (!matches(rule.verbs, attrs.verb)) return false;
  if (!attrs.isResourceRequest) return nonResourceUrlMatches(rule.nonResourceURLs, attrs.path);
  const combined = attrs.subresource === '' ? attrs.resource : `${attrs.resource}/${attrs.subresource}`;
  return (
    matches(rule.apiGroups, attrs.apiGroup) &&
    resourceMatches(rule.resources, combined, attrs.subresource) &&
    (rule.resourceNames.length === 0 || rule.resourceNames.includes(attrs.name))
  );
}

function matches(list: readonly string[], value: string): boolean {
  return list.includes('*') || list.includes(value);
}

function resourceMatches(resources: readonly string[], combined: string, subresource: string): boolean {
  return resources.some((r) => r === '*' || r === combined || (subresource !== '' && r === `*/${subresource}`));
}

function nonResourceUrlMatches(urls: readonly string[], path: string): boolean {
  return urls.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

/** utilerrors.NewAggregate(errs).Error(): one error as itself, several as `[a, b]`. */
function aggregate(errors: readonly string[]): string {
  return errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`;
}

// --- RBAC objects → domain types, once, at the edge (STYLE rule 4) ---

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function parseRules(v: unknown): PolicyRule[] {
  return (Array.isArray(v) ? v : []).map((r) => {
    const rule = asRecord(r);
    return {
      verbs: strings(rule['verbs']),
      apiGroups: strings(rule['apiGroups']),
      resources: strings(rule['resources']),
      resourceNames: strings(rule['resourceNames']),
      nonResourceURLs: strings(rule['nonResourceURLs']),
    };
  });
}

export function parseBinding(obj: KubeObject): Binding {
  const ref = asRecord(obj['roleRef']);
  return {
    kind: obj.kind === 'RoleBinding' ? 'RoleBinding' : 'ClusterRoleBinding',
    name: obj.metadata.name ?? '',
    namespace: obj.kind === 'RoleBinding' ? (obj.metadata.namespace ?? '') : '',
    roleRef: { kind: typeof ref['kind'] === 'string' ? ref['kind'] : '', name: typeof ref['name'] === 'string' ? ref['name'] : '' },
    subjects: (Array.isArray(obj['subjects']) ? obj['subjects'] : []).map((s) => {
      const sub = asRecord(s);
      return {
        kind: typeof sub['kind'] === 'string' ? sub['kind'] : '',
        name: typeof sub['name'] === 'string' ? sub['name'] : '',
        namespace: typeof sub['namespace'] === 'string' ? sub['namespace'] : '',
      };
    }),
  };
}

/** An RbacPolicy over plain objects (tests, and the store-backed policy's index). */
export function policyOf(objects: readonly KubeObject[]): RbacPolicy {
  const clusterRoles = new Map<string, PolicyRule[]>();
  const roles = new Map<string, PolicyRule[]>();
  const clusterBindings: Binding[] = [];
  const roleBindings = new Map<string, Binding[]>();
  for (const o of objects) {
    if (o.kind === 'ClusterRole') clusterRoles.set(o.metadata.name ?? '', parseRules(o['rules']));
    else if (o.kind === 'Role') roles.set(`${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`, parseRules(o['rules']));
    else if (o.kind === 'ClusterRoleBinding') clusterBindings.push(parseBinding(o));
    else if (o.kind === 'RoleBinding') {
      const b = parseBinding(o);
      const list = roleBindings.get(b.namespace) ?? [];
      list.push(b);
      roleBindings.set(b.namespace, list);
    }
  }
  return {
    clusterRoleBindings: () => clusterBindings,
    roleBindings: (ns) => roleBindings.get(ns) ?? [],
    clusterRoleRules: (name) => clusterRoles.get(name),
    roleRules: (ns, name) => roles.get(`${ns}/${name}`),
  };
}
