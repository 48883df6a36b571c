import { type FieldReader, kubeObjectReader } from '@ambit/core';
import {
  emptyMatch,
  type Authorization,
  type AuthorizationAction,
  type AuthorizationScope,
  type Clause,
  type Match,
  type Rule,
} from './core-model.ts';
import { DRY_RUN_ANNOTATION } from './labels.ts';
import { cidrValue, portValue, principalMatch, serviceAccountMatch, stringMatch } from './l4-values.ts';
import { ACCEPTED, rejected, type PolicyStatus } from './policy-status.ts';
import {
  OPERATION_UNSUPPORTED_FIELDS,
  SOURCE_UNSUPPORTED_FIELDS,
  type AuthorizationPolicyView,
  type ConditionView,
  type OperationView,
  type PolicyRuleView,
  type SourceView,
} from './security-objects.ts';

/**
 * AuthorizationPolicy → L4 Authorization, following istiod's ambient conversion (reference §6;
 * is:`pilot/pkg/serviceregistry/ambient/authorization.go`). Each policy rule becomes one Rule whose clauses AND:
 * one clause for `to` (its operations OR as matches), one for `from` (sources OR), one per `when` condition. A rule
 * without from/to/when is a Rule without clauses, which matches everything; a policy without rules never matches
 * (so `ALLOW` with `spec: {}` allows nothing, as in Istio).
 *
 * HTTP attributes fail closed. ALLOW: a rule using any of them is dropped (it can only allow less). DENY: the HTTP
 * parts are treated as "may match" and omitted — an operation or source that had only HTTP fields makes its whole
 * clause match-all, an HTTP `when` contributes no clause — so the rule denies at least what was asked. istiod today
 * instead sends such parts as empty matches, which ztunnel skips, turning e.g. `DENY methods: [POST]` into a no-op;
 * we follow the fail-closed behaviour the reference and Istio's docs describe.
 */

export interface ConvertedAuthorization {
  /** Undefined when the policy is not for ztunnel (targetRefs) or cannot be converted (CUSTOM/AUDIT). */
  readonly authorization?: Authorization;
  readonly status: PolicyStatus;
}

const L4_WHEN_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);

const HTTP_RULE_MESSAGE = (found: readonly string[]): string =>
  `ztunnel does not support HTTP attributes (found: ${found.join(', ')}). ` +
  'In ambient mode you must use a waypoint proxy to enforce HTTP rules.';
const ALLOW_BOILERPLATE =
  'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';
const DENY_BOILERPLATE =
  'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';

/** Throws KubeObjectError for values that do not parse (ports, CIDRs, empty sources/operations/conditions). */
export function convertAuthorizationPolicy(view: AuthorizationPolicyView, rootNamespace: string): ConvertedAuthorization {
  const { name, namespace } = view.meta;
  const r = kubeObjectReader(`AuthorizationPolicy ${namespace}/${name}`);
  if (view.hasTargetRefs) {
    return {
      status: {
        accepted: true,
        reason: 'NotForZtunnel',
        message: 'policy has targetRefs: the waypoint it targets enforces it, ztunnel does not',
        ignoredFields: [],
      },
    };
  }
  if (view.action !== 'ALLOW' && view.action !== 'DENY') {
    return { status: rejected('UnsupportedValue', `ztunnel does not support the ${view.action} action`) };
  }
  const action: AuthorizationAction = view.action;
  const scope: AuthorizationScope =
    view.selector !== undefined ? 'WORKLOAD_SELECTOR' : namespace === rootNamespace ? 'GLOBAL' : 'NAMESPACE';

  const found = new Set<string>();
  const rules: Rule[] = [];
  view.rules.forEach((rule, i) => {
    const converted = convertRule(r, rule, `spec.rules[${i}]`, action, namespace, found);
    if (converted !== undefined) rules.push(converted);
  });

  const dryRun = parseDryRun(view.meta.annotations[DRY_RUN_ANNOTATION]);
  const authorization: Authorization = { name, namespace, scope, action, rules, dryRun: dryRun ?? false };
  const notes: string[] = [];
  if (dryRun === undefined) {
    notes.push(`annotation ${DRY_RUN_ANNOTATION} is not a boolean; the policy is enforced`);
  }
  if (found.size === 0) {
    return { authorization, status: notes.length === 0 ? ACCEPTED : { ...ACCEPTED, message: notes.join(' ') } };
  }
  const ignoredFields = [...found].sort();
  notes.unshift(HTTP_RULE_MESSAGE(ignoredFields), action === 'ALLOW' ? ALLOW_BOILERPLATE : DENY_BOILERPLATE);
  return { authorization, status: { accepted: true, reason: 'UnsupportedValue', message: notes.join(' '), ignoredFields } };
}

/** Go's strconv.ParseBool, which istiod uses for the annotation; absent = false, unparseable = undefined. */
export function parseDryRun(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function convertRule(
  r: FieldReader,
  rule: PolicyRuleView,
  field: string,
  action: AuthorizationAction,
  policyNamespace: string,
  found: Set<string>,
): Rule | undefined {
  let hasHttp = false;
  const clauses: Clause[] = [];
  // A clause is omitted (DENY) when one of its alternatives had only HTTP fields: that alternative "may match"
  // anything at L4, so the whole OR does.
  const addClause = (matches: Array<Match | undefined>): void => {
    if (matches.every((m): m is Match => m !== undefined)) clauses.push({ matches });
  };

  if (rule.to.length > 0) {
    addClause(
      rule.to.map((op, i) => {
        const path = `${field}.to[${i}].operation`;
        hasHttp = noteUnsupported(op, OPERATION_UNSUPPORTED_FIELDS, found) || hasHttp;
        return operationMatch(r, op, path);
      }),
    );
  }
  if (rule.from.length > 0) {
    addClause(
      rule.from.map((src, i) => {
        const path = `${field}.from[${i}].source`;
        hasHttp = noteUnsupported(src, SOURCE_UNSUPPORTED_FIELDS, found) || hasHttp;
        return sourceMatch(r, src, path, policyNamespace);
      }),
    );
  }
  rule.when.forEach((cond, i) => {
    const path = `${field}.when[${i}]`;
    if (cond.values.length === 0 && cond.notValues.length === 0) r.fail(path, 'must set values or notValues');
    if (!L4_WHEN_KEYS.has(cond.key)) {
      found.add(cond.key);
      hasHttp = true;
      return;
    }
    clauses.push({ matches: [conditionMatch(r, cond, path)] });
  });
  return action === 'ALLOW' && hasHttp ? undefined : { clauses };
}

function noteUnsupported(view: Readonly<Record<string, unknown>>, fields: readonly string[], found: Set<string>): boolean {
  let any = false;
  for (const f of fields) {
    if (view[f] !== undefined) {
      found.add(f);
      any = true;
    }
  }
  return any;
}

/** The L4 part of an operation; undefined when it has none (HTTP-only). Throws for an operation with no fields. */
function operationMatch(r: FieldReader, op: OperationView, path: string): Match | undefined {
  if (Object.keys(op).length === 0) r.fail(path, 'must set at least one field');
  if (op.ports === undefined && op.notPorts === undefined) return undefined;
  const ports = (key: 'ports' | 'notPorts'): number[] => (op[key] ?? []).map((v, i) => portValue(r, v, `${path}.${key}[${i}]`));
  return { ...emptyMatch(), destinationPorts: ports('ports'), notDestinationPorts: ports('notPorts') };
}

function sourceMatch(r: FieldReader, src: SourceView, path: string, policyNamespace: string): Match | undefined {
  if (Object.keys(src).length === 0) r.fail(path, 'must set at least one field');
  const m: Match = {
    ...emptyMatch(),
    principals: (src.principals ?? []).map(principalMatch),
    notPrincipals: (src.notPrincipals ?? []).map(principalMatch),
    namespaces: (src.namespaces ?? []).map(stringMatch),
    notNamespaces: (src.notNamespaces ?? []).map(stringMatch),
    serviceAccounts: (src.serviceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
    notServiceAccounts: (src.notServiceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
    sourceIps: (src.ipBlocks ?? []).map((v, i) => cidrValue(r, v, `${path}.ipBlocks[${i}]`)),
    notSourceIps: (src.notIpBlocks ?? []).map((v, i) => cidrValue(r, v, `${path}.notIpBlocks[${i}]`)),
  };
  return isEmptyMatch(m) ? undefined : m;
}

function conditionMatch(r: FieldReader, cond: ConditionView, path: string): Match {
  const m = emptyMatch();
  const cidrs = (values: readonly string[], key: string): ReturnType<typeof cidrValue>[] =>
    values.map((v, i) => cidrValue(r, v, `${path}.${key}[${i}]`));
  const ports = (values: readonly string[], key: string): number[] => values.map((v, i) => portValue(r, v, `${path}.${key}[${i}]`));
  switch (cond.key) {
    case 'source.ip':
      return { ...m, sourceIps: cidrs(cond.values, 'values'), notSourceIps: cidrs(cond.notValues, 'notValues') };
    case 'source.namespace':
      return { ...m, namespaces: cond.values.map(stringMatch), notNamespaces: cond.notValues.map(stringMatch) };
    case 'source.principal':
      return { ...m, principals: cond.values.map(principalMatch), notPrincipals: cond.notValues.map(principalMatch) };
    case 'destination.ip':
      return { ...m, destinationIps: cidrs(cond.values, 'values'), notDestinationIps: cidrs(cond.notValues, 'notValues') };
    default:
      return { ...m, destinationPorts: ports(cond.values, 'values'), notDestinationPorts: ports(cond.notValues, 'notValues') };
  }
}

function isEmptyMatch(m: Match): boolean {
  return Object.values(m).every((v: readonly unknown[]) => v.length === 0);
}

export { emptyMatch };
