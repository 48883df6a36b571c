import { BlockList, isIP } from 'node:net';
import { parseSpiffeId } from '../model/spiffe.ts';
import type { Authorization, Cidr, Match, Rule, ServiceAccountMatch, StringMatch } from '../model/types.ts';

/**
 * L4 authorization exactly as ztunnel evaluates it (reference istio-ambient.md §6; ztunnel `src/rbac.rs` `matches`,
 * `src/state.rs` `assert_rbac`). Within a policy rules OR, a rule's clauses AND, a clause's matches OR; within a match
 * every populated field must match (values of one field OR) and no `not*` value may match. A policy without rules
 * never matches; a rule without clauses matches everything; an all-empty match matches nothing.
 * Decision: a matching enforced DENY refuses; with no enforced ALLOW policy the connection is allowed; otherwise one
 * enforced ALLOW must match. Dry-run policies never change the decision; what they would have done is reported.
 */

/** What the destination ztunnel knows of a connection. */
export interface ConnectionFacts {
  /** The client's SPIFFE ID (`spiffe://td/ns/N/sa/S`); absent for plaintext. */
  readonly sourceIdentity: string | undefined;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

export interface AuthzDecision {
  readonly allow: boolean;
  /** `namespace/name` of the policy that decided (the DENY that matched, the ALLOW that matched), when one did. */
  readonly policy?: string;
  /** Why, in words (logged, and given as the HBONE 401 reason). */
  readonly reason: string;
  /** Set when dry-run policies would have decided differently: what they would have done and which policy. */
  readonly dryRun?: { readonly allow: boolean; readonly policy?: string };
}

/** The source as policies see it: derived once per connection from the SPIFFE ID. */
export interface SourceFacts {
  /** `td/ns/N/sa/S` (principals are compared without `spiffe://`). */
  readonly principal: string | undefined;
  readonly namespace: string | undefined;
  readonly serviceAccount: string | undefined;
}

export function sourceFacts(identity: string | undefined): SourceFacts {
  if (identity === undefined) return { principal: undefined, namespace: undefined, serviceAccount: undefined };
  const principal = identity.startsWith('spiffe://') ? identity.slice('spiffe://'.length) : identity;
  try {
    const id = parseSpiffeId(identity);
    return { principal, namespace: id.namespace, serviceAccount: id.serviceAccount };
  } catch {
    return { principal, namespace: undefined, serviceAccount: undefined };
  }
}

export function stringMatches(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  if ('suffix' in m) return value.endsWith(m.suffix);
  return true;
}

const blockLists = new WeakMap<Cidr, BlockList>();

export function cidrMatches(c: Cidr, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0 || family !== isIP(c.address)) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  let list = blockLists.get(c);
  if (list === undefined) {
    list = new BlockList();
    list.addSubnet(c.address, c.length, type);
    blockLists.set(c, list);
  }
  return list.check(ip, type);
}

function saMatches(m: ServiceAccountMatch, src: SourceFacts): boolean {
  return src.namespace === m.namespace && src.serviceAccount === m.serviceAccount;
}

/** The field types of a Match, in the order a failure is reported. */
const FIELDS = [
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'principals',
  'notPrincipals',
  'sourceIps',
  'notSourceIps',
  'destinationIps',
  'notDestinationIps',
  'destinationPorts',
  'notDestinationPorts',
] as const;
export type MatchField = (typeof FIELDS)[number];

function fieldHolds(m: Match, field: MatchField, src: SourceFacts, conn: ConnectionFacts): boolean {
  switch (field) {
    case 'namespaces':
      return m.namespaces.length === 0 || m.namespaces.some((v) => stringMatches(v, src.namespace));
    case 'notNamespaces':
      return !m.notNamespaces.some((v) => stringMatches(v, src.namespace));
    case 'serviceAccounts':
      return m.serviceAccounts.length === 0 || m.serviceAccounts.some((v) => saMatches(v, src));
    case 'notServiceAccounts':
      return !m.notServiceAccounts.some((v) => saMatches(v, src));
    case 'principals':
      return m.principals.length === 0 || m.principals.some((v) => stringMatches(v, src.principal));
    case 'notPrincipals':
      return !m.notPrincipals.some((v) => stringMatches(v, src.principal));
    case 'sourceIps':
      return m.sourceIps.length === 0 || m.sourceIps.some((c) => cidrMatches(c, conn.sourceIp));
    case 'notSourceIps':
      return !m.notSourceIps.some((c) => cidrMatches(c, conn.sourceIp));
    case 'destinationIps':
      return m.destinationIps.length === 0 || m.destinationIps.some((c) => cidrMatches(c, conn.destinationIp));
    case 'notDestinationIps':
      return !m.notDestinationIps.some((c) => cidrMatches(c, conn.destinationIp));
    case 'destinationPorts':
      return m.destinationPorts.length === 0 || m.destinationPorts.includes(conn.destinationPort);
    case 'notDestinationPorts':
      return !m.notDestinationPorts.includes(conn.destinationPort);
  }
}

export function isEmptyMatch(m: Match): boolean {
  return FIELDS.every((f) => m[f].length === 0);
}

/** The first field of `m` that does not hold, `'empty'` for an all-empty match, or undefined when `m` matches. */
export function failingField(m: Match, src: SourceFacts, conn: ConnectionFacts): MatchField | 'empty' | undefined {
  if (isEmptyMatch(m)) return 'empty';
  return FIELDS.find((f) => !fieldHolds(m, f, src, conn));
}

export function matchApplies(m: Match, src: SourceFacts, conn: ConnectionFacts): boolean {
  return failingField(m, src, conn) === undefined;
}

export function ruleMatches(rule: Rule, src: SourceFacts, conn: ConnectionFacts): boolean {
  return rule.clauses.every((clause) => clause.matches.some((m) => matchApplies(m, src, conn)));
}

/** Index of the first matching rule, or -1. */
export function matchingRule(policy: Authorization, src: SourceFacts, conn: ConnectionFacts): number {
  return policy.rules.findIndex((rule) => ruleMatches(rule, src, conn));
}

export const policyKey = (p: Pick<Authorization, 'namespace' | 'name'>): string => `${p.namespace}/${p.name}`;

/**
 * What one pass over the policies in scope found, as policy keys. The ALLOW look-ups are functions so they run only
 * when the decision needs them (a matching DENY makes them moot).
 */
export interface PolicyFindings {
  readonly deny: string | undefined;
  readonly dryDeny: string | undefined;
  readonly hasAllow: boolean;
  readonly hasDryAllow: boolean;
  /** Enforced ALLOW policies in scope, named in the reason of a default denial. */
  readonly allowKeys: readonly string[];
  findAllow(): string | undefined;
  findDryAllow(): string | undefined;
}

/**
 * The decision rule (reference §6), shared by authorize() and the indexed PolicySet: a matching enforced DENY refuses;
 * with no enforced ALLOW the connection is allowed; otherwise one enforced ALLOW must match. Then, when dry-run
 * policies exist, what the decision would be with them enforced too, reported only when it differs.
 */
export function decide(f: PolicyFindings): AuthzDecision {
  let allow: string | undefined;
  let decision: AuthzDecision;
  if (f.deny !== undefined) decision = { allow: false, policy: f.deny, reason: `denied by DENY policy ${f.deny}` };
  else if (!f.hasAllow) decision = { allow: true, reason: 'no ALLOW policy applies' };
  else {
    allow = f.findAllow();
    const names = f.allowKeys.length <= 5 ? f.allowKeys.join(', ') : `${f.allowKeys.length} policies`;
    decision =
      allow !== undefined
        ? { allow: true, policy: allow, reason: `allowed by ALLOW policy ${allow}` }
        : { allow: false, reason: `no ALLOW policy matched (${names})` };
  }
  if (f.dryDeny === undefined && !f.hasDryAllow) return decision;
  let would: { allow: boolean; policy?: string };
  const denier = f.deny ?? f.dryDeny;
  if (denier !== undefined) would = { allow: false, policy: denier };
  else if (!f.hasAllow && !f.hasDryAllow) would = { allow: true };
  else {
    const by = allow ?? f.findDryAllow();
    would = by !== undefined ? { allow: true, policy: by } : { allow: false };
  }
  return would.allow === decision.allow ? decision : { ...decision, dryRun: would };
}

/**
 * Decides over the policies in scope for the destination (any order). `src` may be passed when already derived.
 */
export function authorize(
  policies: Iterable<Authorization>,
  conn: ConnectionFacts,
  src: SourceFacts = sourceFacts(conn.sourceIdentity),
): AuthzDecision {
  let deny: Authorization | undefined;
  let dryDeny: Authorization | undefined;
  const allows: Authorization[] = [];
  const dryAllows: Authorization[] = [];
  for (const p of policies) {
    if (p.action === 'DENY') {
      if (p.dryRun ? dryDeny !== undefined : deny !== undefined) continue;
      if (matchingRule(p, src, conn) < 0) continue;
      if (p.dryRun) dryDeny = p;
      else deny = p;
    } else (p.dryRun ? dryAllows : allows).push(p);
  }
  const matching = (list: readonly Authorization[]): string | undefined => {
    const p = list.find((x) => matchingRule(x, src, conn) >= 0);
    return p === undefined ? undefined : policyKey(p);
  };
  return decide({
    deny: deny === undefined ? undefined : policyKey(deny),
    dryDeny: dryDeny === undefined ? undefined : policyKey(dryDeny),
    hasAllow: allows.length > 0,
    hasDryAllow: dryAllows.length > 0,
    allowKeys: allows.map(policyKey),
    findAllow: () => matching(allows),
    findDryAllow: () => matching(dryAllows),
  });
}
