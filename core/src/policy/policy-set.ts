import { isIP } from 'node:net';
import type { Authorization, Cidr, Match, Rule, StringMatch } from '../model/types.ts';
import { cidrMatches, decide, isEmptyMatch, policyKey, type AuthzDecision, type ConnectionFacts, type SourceFacts } from './authorize.ts';
import type { SourceFactsCache } from './source-cache.ts';

/**
 * The policies in scope for one destination, compiled and indexed so a decision costs microseconds with 10 000
 * policies (issue goal: p99 < 50 µs). Two things make it fast:
 * - **Index.** Most policies name who may (or may not) connect by exact principal, namespace or service account; such
 *   a policy can only match a source with that principal or namespace, so it is filed under those keys and only
 *   consulted for such sources. Everything else (prefix/suffix forms, IP- or port-only rules, `not*`-only rules) is
 *   filed under "any". The index is conservative: a policy is skipped only when it cannot match.
 * - **Compiled matches.** Each Match becomes a predicate over just its populated fields; IPv4 blocks compare 32-bit
 *   integers; the source's SPIFFE ID is parsed once per identity.
 * Decisions equal authorize() over the whole list (the table tests check every case both ways).
 */
export interface PolicySet {
  readonly size: number;
  decide(conn: ConnectionFacts): AuthzDecision;
}

interface Prepared {
  readonly conn: ConnectionFacts;
  readonly src: SourceFacts;
  /** IPv4 addresses as unsigned integers; undefined for IPv6 (compared through BlockList). */
  readonly srcV4: number | undefined;
  readonly dstV4: number | undefined;
}

type Pred = (p: Prepared) => boolean;

interface Compiled {
  readonly policy: Authorization;
  readonly key: string;
  matches(p: Prepared): boolean;
}

/** Policies of one bucket, split by what they do. */
interface Bucket {
  readonly deny: Compiled[];
  readonly dryDeny: Compiled[];
  readonly allow: Compiled[];
  readonly dryAllow: Compiled[];
}

const emptyBucket = (): Bucket => ({ deny: [], dryDeny: [], allow: [], dryAllow: [] });

function v4(ip: string): number | undefined {
  if (isIP(ip) !== 4) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** A CIDR test: integer mask for IPv4, BlockList otherwise (never matches across families). */
function cidrPred(c: Cidr, which: 'src' | 'dst'): Pred {
  const base = v4(c.address);
  if (base !== undefined) {
    const mask = c.length === 0 ? 0 : (0xffffffff << (32 - c.length)) >>> 0;
    const net = (base & mask) >>> 0;
    return (p) => {
      const ip = which === 'src' ? p.srcV4 : p.dstV4;
      return ip !== undefined && (ip & mask) >>> 0 === net;
    };
  }
  return (p) =>
    (which === 'src' ? p.srcV4 : p.dstV4) === undefined && cidrMatches(c, which === 'src' ? p.conn.sourceIp : p.conn.destinationIp);
}

function strPred(m: StringMatch, get: (p: Prepared) => string | undefined): Pred {
  if ('exact' in m) return (p) => get(p) === m.exact;
  if ('prefix' in m) return (p) => get(p)?.startsWith(m.prefix) === true;
  if ('suffix' in m) return (p) => get(p)?.endsWith(m.suffix) === true;
  return (p) => get(p) !== undefined;
}

const any =
  (preds: Pred[]): Pred =>
  (p) => {
    for (const f of preds) if (f(p)) return true;
    return false;
  };
const none =
  (preds: Pred[]): Pred =>
  (p) => {
    for (const f of preds) if (f(p)) return false;
    return true;
  };

const principal = (p: Prepared): string | undefined => p.src.principal;
const namespace = (p: Prepared): string | undefined => p.src.namespace;

function compileMatch(m: Match): Pred {
  if (isEmptyMatch(m)) return () => false;
  const checks: Pred[] = [];
  const sa =
    (x: { namespace: string; serviceAccount: string }): Pred =>
    (p) =>
      p.src.namespace === x.namespace && p.src.serviceAccount === x.serviceAccount;
  if (m.namespaces.length > 0) checks.push(any(m.namespaces.map((v) => strPred(v, namespace))));
  if (m.notNamespaces.length > 0) checks.push(none(m.notNamespaces.map((v) => strPred(v, namespace))));
  if (m.serviceAccounts.length > 0) checks.push(any(m.serviceAccounts.map(sa)));
  if (m.notServiceAccounts.length > 0) checks.push(none(m.notServiceAccounts.map(sa)));
  if (m.principals.length > 0) checks.push(any(m.principals.map((v) => strPred(v, principal))));
  if (m.notPrincipals.length > 0) checks.push(none(m.notPrincipals.map((v) => strPred(v, principal))));
  if (m.sourceIps.length > 0) checks.push(any(m.sourceIps.map((c) => cidrPred(c, 'src'))));
  if (m.notSourceIps.length > 0) checks.push(none(m.notSourceIps.map((c) => cidrPred(c, 'src'))));
  if (m.destinationIps.length > 0) checks.push(any(m.destinationIps.map((c) => cidrPred(c, 'dst'))));
  if (m.notDestinationIps.length > 0) checks.push(none(m.notDestinationIps.map((c) => cidrPred(c, 'dst'))));
  if (m.destinationPorts.length > 0) {
    const ports = new Set(m.destinationPorts);
    checks.push((p) => ports.has(p.conn.destinationPort));
  }
  if (m.notDestinationPorts.length > 0) {
    const ports = new Set(m.notDestinationPorts);
    checks.push((p) => !ports.has(p.conn.destinationPort));
  }
  return (p) => {
    for (const f of checks) if (!f(p)) return false;
    return true;
  };
}

function compileRule(rule: Rule): Pred {
  const clauses = rule.clauses.map((c) => any(c.matches.map(compileMatch)));
  return (p) => {
    for (const c of clauses) if (!c(p)) return false;
    return true;
  };
}

function compilePolicy(policy: Authorization): Compiled {
  const rules = policy.rules.map(compileRule);
  return { policy, key: policyKey(policy), matches: any(rules) };
}

// --- index keys ---

const ANY = 'any' as const;
type Keys = Set<string> | typeof ANY;

function matchKeys(m: Match): Keys {
  if (isEmptyMatch(m)) return new Set(); // matches nothing
  if (m.principals.length > 0 && m.principals.every((p) => 'exact' in p))
    return new Set(m.principals.map((p) => `p:${'exact' in p ? p.exact : ''}`));
  if (m.namespaces.length > 0 && m.namespaces.every((n) => 'exact' in n))
    return new Set(m.namespaces.map((n) => `n:${'exact' in n ? n.exact : ''}`));
  if (m.serviceAccounts.length > 0) return new Set(m.serviceAccounts.map((sa) => `n:${sa.namespace}`));
  return ANY;
}

function ruleKeys(rule: Rule): Keys {
  // A rule matches only where every clause does, so the keys of any one keyed clause bound it.
  for (const clause of rule.clauses) {
    const keys = new Set<string>();
    let anyMatch = false;
    for (const m of clause.matches) {
      const k = matchKeys(m);
      if (k === ANY) {
        anyMatch = true;
        break;
      }
      for (const x of k) keys.add(x);
    }
    if (!anyMatch) return keys;
  }
  return ANY;
}

function policyKeys(p: Authorization): Keys {
  const keys = new Set<string>();
  for (const rule of p.rules) {
    const k = ruleKeys(rule);
    if (k === ANY) return ANY;
    for (const x of k) keys.add(x);
  }
  return keys;
}

/** The first policy of class `cls` that matches, over the source's buckets in order. */
function firstMatch(buckets: readonly Bucket[], cls: keyof Bucket, p: Prepared): string | undefined {
  for (const b of buckets) for (const c of b[cls]) if (c.matches(p)) return c.key;
  return undefined;
}

/** `sources`: the proxy's cache of parsed source identities, shared by all its sets (source-cache.ts). */
export function compilePolicies(policies: readonly Authorization[], sources: SourceFactsCache): PolicySet {
  const anyBucket = emptyBucket();
  const byKey = new Map<string, Bucket>();
  let dryAllowCount = 0;
  let hasDryDeny = false;
  const allowNames: string[] = [];
  for (const policy of policies) {
    const compiled = compilePolicy(policy);
    const cls: keyof Bucket = policy.action === 'DENY' ? (policy.dryRun ? 'dryDeny' : 'deny') : policy.dryRun ? 'dryAllow' : 'allow';
    if (cls === 'allow') allowNames.push(compiled.key);
    if (cls === 'dryAllow') dryAllowCount += 1;
    if (cls === 'dryDeny') hasDryDeny = true;
    const keys = policyKeys(policy);
    if (keys === ANY) {
      anyBucket[cls].push(compiled);
      continue;
    }
    for (const k of keys) {
      let b = byKey.get(k);
      if (b === undefined) byKey.set(k, (b = emptyBucket()));
      b[cls].push(compiled);
    }
  }
  const none: Bucket = emptyBucket();
  return {
    size: policies.length,
    decide(conn) {
      const src = sources.factsOf(conn.sourceIdentity);
      const p: Prepared = { conn, src, srcV4: v4(conn.sourceIp), dstV4: v4(conn.destinationIp) };
      const byP = src.principal === undefined ? none : (byKey.get(`p:${src.principal}`) ?? none);
      const byN = src.namespace === undefined ? none : (byKey.get(`n:${src.namespace}`) ?? none);
      const buckets = [byP, byN, anyBucket];
      return decide({
        deny: firstMatch(buckets, 'deny', p),
        dryDeny: hasDryDeny ? firstMatch(buckets, 'dryDeny', p) : undefined,
        hasAllow: allowNames.length > 0,
        hasDryAllow: dryAllowCount > 0,
        allowKeys: allowNames,
        findAllow: () => firstMatch(buckets, 'allow', p),
        findDryAllow: () => firstMatch(buckets, 'dryAllow', p),
      });
    },
  };
}
