import { type FieldReader, kubeObjectReader } from '@ambit/core';
import type { L7Condition, L7Operation, L7Rule, L7Source } from '@ambit/core/policy';
import { parseDryRun } from './authorization-policy.ts';
import { DRY_RUN_ANNOTATION } from './labels.ts';
import { cidrValue, portValue, principalMatch, serviceAccountMatch, stringMatch } from './l4-values.ts';
import type { AuthorizationPolicyView, ConditionView, OperationView, PolicyRuleView, SourceView } from './security-objects.ts';

/**
 * AuthorizationPolicy (with targetRefs) → the rules of an L7Authorization, the waypoint's model (core l7-types.ts):
 * Istio's fields one for one, with istiod's value forms (`*` presence, `x*` prefix, `*x` suffix; principals without
 * `spiffe://`; a bare service account in the policy's namespace). Targets are resolved by the L7 builder, which knows
 * the Gateways and Services.
 *
 * What a waypoint cannot enforce (requestPrincipals — no RequestAuthentication here —, trustDomains, `when` keys other
 * than those below) fails closed, as the L4 conversion does: in an ALLOW policy the rule using it is dropped (it can
 * only allow less); in a DENY policy the rule is kept without that part (it denies at least what was asked). Each is
 * named in `ignored`, for the status message.
 */

export interface L7Conversion {
  readonly action: 'ALLOW' | 'DENY';
  readonly dryRun: boolean;
  readonly rules: readonly L7Rule[];
  /** `spec.rules[0].from[0].source.requestPrincipals`, `spec.rules[1].when[0] (request.auth.claims[iss])`, … */
  readonly ignored: readonly string[];
  /** Problems that do not reject the policy (an unreadable dry-run annotation). */
  readonly notes: readonly string[];
}

export type L7ConversionResult = L7Conversion | { readonly unsupportedAction: string };

const UNSUPPORTED_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals', 'trustDomains', 'notTrustDomains'] as const;
/** `request.headers[NAME]`; the name is an RFC 9110 token. */
const HEADER_KEY = /^request\.headers\[([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\]$/;

/** Throws KubeObjectError naming the field for values that do not parse (ports, CIDRs, empty sources/operations). */
export function convertL7Rules(view: AuthorizationPolicyView): L7ConversionResult {
  const { name, namespace } = view.meta;
  if (view.action !== 'ALLOW' && view.action !== 'DENY') return { unsupportedAction: view.action };
  const r = kubeObjectReader(`AuthorizationPolicy ${namespace}/${name}`);
  const action = view.action;
  const ignored: string[] = [];
  const rules: L7Rule[] = [];
  view.rules.forEach((rule, i) => {
    const converted = convertRule(r, rule, `spec.rules[${i}]`, action, namespace, ignored);
    if (converted !== undefined) rules.push(converted);
  });
  const dryRun = parseDryRun(view.meta.annotations[DRY_RUN_ANNOTATION]);
  const notes = dryRun === undefined ? [`annotation ${DRY_RUN_ANNOTATION} is not a boolean; the policy is enforced`] : [];
  return { action, dryRun: dryRun ?? false, rules, ignored, notes };
}

function convertRule(
  r: FieldReader,
  rule: PolicyRuleView,
  field: string,
  action: 'ALLOW' | 'DENY',
  policyNamespace: string,
  ignored: string[],
): L7Rule | undefined {
  const before = ignored.length;
  const from = rule.from.map((src, i) => convertSource(r, src, `${field}.from[${i}].source`, policyNamespace, ignored));
  const to = rule.to.map((op, i) => convertOperation(r, op, `${field}.to[${i}].operation`));
  const when: L7Condition[] = [];
  rule.when.forEach((cond, i) => {
    const c = convertCondition(r, cond, `${field}.when[${i}]`);
    if (c === undefined) ignored.push(`${field}.when[${i}] (${cond.key})`);
    else when.push(c);
  });
  // ALLOW: a rule with an unenforceable part is dropped. DENY: kept without it (the part was left out above).
  if (action === 'ALLOW' && ignored.length > before) return undefined;
  return { from, to, when };
}

function convertSource(r: FieldReader, src: SourceView, path: string, policyNamespace: string, ignored: string[]): L7Source {
  if (Object.keys(src).length === 0) r.fail(path, 'must set at least one field');
  for (const f of UNSUPPORTED_SOURCE_FIELDS) if (src[f] !== undefined) ignored.push(`${path}.${f}`);
  const cidrs = (key: 'ipBlocks' | 'notIpBlocks' | 'remoteIpBlocks' | 'notRemoteIpBlocks'): ReturnType<typeof cidrValue>[] =>
    (src[key] ?? []).map((v, i) => cidrValue(r, v, `${path}.${key}[${i}]`));
  return {
    principals: (src.principals ?? []).map(principalMatch),
    notPrincipals: (src.notPrincipals ?? []).map(principalMatch),
    namespaces: (src.namespaces ?? []).map(stringMatch),
    notNamespaces: (src.notNamespaces ?? []).map(stringMatch),
    serviceAccounts: (src.serviceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
    notServiceAccounts: (src.notServiceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
    ipBlocks: cidrs('ipBlocks'),
    notIpBlocks: cidrs('notIpBlocks'),
    remoteIpBlocks: cidrs('remoteIpBlocks'),
    notRemoteIpBlocks: cidrs('notRemoteIpBlocks'),
  };
}

function convertOperation(r: FieldReader, op: OperationView, path: string): L7Operation {
  if (Object.keys(op).length === 0) r.fail(path, 'must set at least one field');
  const ports = (key: 'ports' | 'notPorts'): number[] => (op[key] ?? []).map((v, i) => requestPort(r, v, `${path}.${key}[${i}]`));
  // Hosts compare case-insensitively: the model holds them lower-case (l7-types.ts).
  const hosts = (key: 'hosts' | 'notHosts'): ReturnType<typeof stringMatch>[] => (op[key] ?? []).map((v) => stringMatch(v.toLowerCase()));
  return {
    hosts: hosts('hosts'),
    notHosts: hosts('notHosts'),
    ports: ports('ports'),
    notPorts: ports('notPorts'),
    methods: (op.methods ?? []).map(stringMatch),
    notMethods: (op.notMethods ?? []).map(stringMatch),
    paths: (op.paths ?? []).map(stringMatch),
    notPaths: (op.notPaths ?? []).map(stringMatch),
  };
}

/** Undefined for a key the waypoint does not evaluate. */
function convertCondition(r: FieldReader, cond: ConditionView, path: string): L7Condition | undefined {
  if (cond.values.length === 0 && cond.notValues.length === 0) r.fail(path, 'must set values or notValues');
  const header = HEADER_KEY.exec(cond.key)?.[1];
  if (header !== undefined) {
    return {
      key: 'request.headers',
      header: header.toLowerCase(),
      values: cond.values.map(stringMatch),
      notValues: cond.notValues.map(stringMatch),
    };
  }
  const cidrs = (values: readonly string[], key: string): ReturnType<typeof cidrValue>[] =>
    values.map((v, i) => cidrValue(r, v, `${path}.${key}[${i}]`));
  switch (cond.key) {
    case 'source.ip':
    case 'remote.ip':
      return { key: cond.key, values: cidrs(cond.values, 'values'), notValues: cidrs(cond.notValues, 'notValues') };
    case 'destination.port':
      return {
        key: cond.key,
        values: cond.values.map((v, i) => requestPort(r, v, `${path}.values[${i}]`)),
        notValues: cond.notValues.map((v, i) => requestPort(r, v, `${path}.notValues[${i}]`)),
      };
    case 'source.principal':
      return { key: cond.key, values: cond.values.map(principalMatch), notValues: cond.notValues.map(principalMatch) };
    case 'source.namespace':
    case 'connection.sni':
      return { key: cond.key, values: cond.values.map(stringMatch), notValues: cond.notValues.map(stringMatch) };
    default:
      return undefined;
  }
}

/** A port a request can be addressed to: 1..65535 (0 never matches, and the waypoint's decoder refuses it). */
function requestPort(r: FieldReader, value: string, field: string): number {
  const port = portValue(r, value, field);
  if (port === 0) r.fail(field, '"0" is not a port 1..65535');
  return port;
}
