import { BlockList, isIP } from 'node:net';
import type { Authorization, Cidr, Match, ServiceAccountMatch, StringMatch } from '@ambit/core';
import { parseSpiffeId } from '@ambit/core';

/**
 * L4 authorization as ztunnel evaluates it (reference istio-ambient.md §6, ztunnel `src/rbac.rs`): any matching DENY
 * refuses; with no ALLOW policy in scope the connection is allowed; otherwise one ALLOW must match. Within a policy,
 * rules OR, a rule's clauses AND, a clause's matches OR; within a match every populated field must match (values of
 * one field OR) and no `not*` value may match.
 */

/** What is known of a connection at the destination ztunnel. */
export interface ConnectionFacts {
  /** The client's SPIFFE ID; absent for plaintext. */
  readonly sourceIdentity: string | undefined;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

export type AuthzDecision =
  | { readonly allow: true; readonly policy?: string; readonly dryRunDenied?: string }
  | { readonly allow: false; readonly policy: string; readonly reason: string };

interface Source {
  /** `td/ns/N/sa/S`: principals are compared without `spiffe://`. */
  readonly principal: string | undefined;
  readonly namespace: string | undefined;
  readonly serviceAccount: string | undefined;
}

function sourceOf(identity: string | undefined): Source {
  if (identity === undefined) return { principal: undefined, namespace: undefined, serviceAccount: undefined };
  try {
    const id = parseSpiffeId(identity);
    return { principal: identity.slice('spiffe://'.length), namespace: id.namespace, serviceAccount: id.serviceAccount };
  } catch {
    return { principal: identity.replace(/^spiffe:\/\//, ''), namespace: undefined, serviceAccount: undefined };
  }
}

function stringMatches(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  if ('suffix' in m) return value.endsWith(m.suffix);
  return true;
}

function cidrMatches(c: Cidr, ip: string): boolean {
  const family = isIP(ip);
  const cFamily = isIP(c.address);
  if (family === 0 || family !== cFamily) return false;
  const list = new BlockList();
  const type = family === 6 ? 'ipv6' : 'ipv4';
  list.addSubnet(c.address, c.length, type);
  return list.check(ip, type);
}

function saMatches(m: ServiceAccountMatch, src: Source): boolean {
  return src.namespace === m.namespace && src.serviceAccount === m.serviceAccount;
}

/** A populated positive field must have one matching value; an empty one is not a condition. */
function anyOf<T>(values: readonly T[], test: (v: T) => boolean): boolean {
  return values.length === 0 || values.some(test);
}

function noneOf<T>(values: readonly T[], test: (v: T) => boolean): boolean {
  return !values.some(test);
}

export function matchApplies(m: Match, conn: ConnectionFacts): boolean {
  const src = sourceOf(conn.sourceIdentity);
  return (
    anyOf(m.namespaces, (v) => stringMatches(v, src.namespace)) &&
    noneOf(m.notNamespaces, (v) => stringMatches(v, src.namespace)) &&
    anyOf(m.serviceAccounts, (v) => saMatches(v, src)) &&
    noneOf(m.notServiceAccounts, (v) => saMatches(v, src)) &&
    anyOf(m.principals, (v) => stringMatches(v, src.principal)) &&
    noneOf(m.notPrincipals, (v) => stringMatches(v, src.principal)) &&
    anyOf(m.sourceIps, (c) => cidrMatches(c, conn.sourceIp)) &&
    noneOf(m.notSourceIps, (c) => cidrMatches(c, conn.sourceIp)) &&
    anyOf(m.destinationIps, (c) => cidrMatches(c, conn.destinationIp)) &&
    noneOf(m.notDestinationIps, (c) => cidrMatches(c, conn.destinationIp)) &&
    anyOf(m.destinationPorts, (p) => p === conn.destinationPort) &&
    noneOf(m.notDestinationPorts, (p) => p === conn.destinationPort)
  );
}

/** A policy with no rules matches nothing (Istio: an ALLOW policy with no rules allows nothing). */
export function policyMatches(policy: Authorization, conn: ConnectionFacts): boolean {
  return policy.rules.some((rule) => rule.clauses.every((clause) => clause.matches.some((m) => matchApplies(m, conn))));
}

const key = (p: Authorization): string => `${p.namespace}/${p.name}`;

export function authorize(policies: readonly Authorization[], conn: ConnectionFacts): AuthzDecision {
  let dryRunDenied: string | undefined;
  for (const p of policies) {
    if (p.action !== 'DENY' || !policyMatches(p, conn)) continue;
    if (p.dryRun) {
      dryRunDenied ??= key(p);
      continue;
    }
    return { allow: false, policy: key(p), reason: `denied by DENY policy ${key(p)}` };
  }
  const allows = policies.filter((p) => p.action === 'ALLOW' && !p.dryRun);
  const extra = dryRunDenied === undefined ? {} : { dryRunDenied };
  if (allows.length === 0) return { allow: true, ...extra };
  const allowing = allows.find((p) => policyMatches(p, conn));
  if (allowing !== undefined) return { allow: true, policy: key(allowing), ...extra };
  return {
    allow: false,
    policy: allows.map(key).join(','),
    reason: `no ALLOW policy matched (${allows.map(key).join(', ')})`,
  };
}
