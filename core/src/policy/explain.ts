import type { Authorization, Cidr, Match, ServiceAccountMatch, StringMatch } from '../model/types.ts';
import {
  authorize,
  failingField,
  policyKey,
  sourceFacts,
  type AuthzDecision,
  type ConnectionFacts,
  type MatchField,
  type SourceFacts,
} from './authorize.ts';

/** One policy's part in a decision, for `ambitctl policy explain`. */
export interface PolicyExplanation {
  readonly policy: string;
  readonly action: Authorization['action'];
  readonly scope: Authorization['scope'];
  readonly dryRun: boolean;
  /** Index of the first matching rule; absent when none matched. */
  readonly matchedRule?: number;
  /** Why each rule did not match (empty when one matched). */
  readonly why: readonly string[];
}

export interface Explanation {
  readonly decision: AuthzDecision;
  readonly source: SourceFacts;
  readonly policies: readonly PolicyExplanation[];
}

function valueText(v: StringMatch | ServiceAccountMatch | Cidr | number): string {
  if (typeof v === 'number') return String(v);
  if ('exact' in v) return v.exact;
  if ('prefix' in v) return `${v.prefix}*`;
  if ('suffix' in v) return `*${v.suffix}`;
  if ('presence' in v) return '*';
  if ('address' in v) return `${v.address}/${v.length}`;
  return `${v.namespace}/${v.serviceAccount}`;
}

function describe(field: MatchField | 'empty', m: Match): string {
  if (field === 'empty') return 'the match is empty (matches nothing)';
  const values: ReadonlyArray<StringMatch | ServiceAccountMatch | Cidr | number> = m[field];
  return `${field} [${values.map(valueText).join(', ')}]`;
}

function explainPolicy(p: Authorization, src: SourceFacts, conn: ConnectionFacts): PolicyExplanation {
  const base = { policy: policyKey(p), action: p.action, scope: p.scope, dryRun: p.dryRun };
  if (p.rules.length === 0) return { ...base, why: ['the policy has no rules (it matches nothing)'] };
  const why: string[] = [];
  for (const [i, rule] of p.rules.entries()) {
    const failing = rule.clauses.findIndex((c) => !c.matches.some((m) => failingField(m, src, conn) === undefined));
    if (failing < 0) return { ...base, matchedRule: i, why: [] };
    const clause = rule.clauses[failing];
    const reasons = (clause?.matches ?? []).map((m) => describe(failingField(m, src, conn) ?? 'empty', m));
    why.push(`rules[${i}]: clause ${failing} does not hold: ${reasons.length === 0 ? 'it has no alternatives' : reasons.join('; or ')}`);
  }
  return { ...base, why };
}

/** The decision for `conn` and, per policy in scope, whether it matched and why not. */
export function explain(policies: readonly Authorization[], conn: ConnectionFacts): Explanation {
  const source = sourceFacts(conn.sourceIdentity);
  return { decision: authorize(policies, conn, source), source, policies: policies.map((p) => explainPolicy(p, source, conn)) };
}
