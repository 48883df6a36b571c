import type { Cidr, ServiceAccountMatch, StringMatch } from '../model/types.ts';
import { cidrMatches, decide, sourceFacts, stringMatches, type AuthzDecision, type SourceFacts } from './authorize.ts';
import {
  l7AuthorizationKey,
  type L7Authorization,
  type L7Condition,
  type L7Operation,
  type L7RequestFacts,
  type L7Rule,
  type L7Source,
} from './l7-types.ts';

/**
 * L7 authorization as a waypoint evaluates it per request (semantics in l7-types.ts; Istio's RBAC filter as istiod
 * builds it from an AuthorizationPolicy, pilot/pkg/security/authz/model). The waypoint and `ambitctl policy explain`
 * both run this file, so an explanation is the proxy's own decision.
 *
 * Each policy is compiled once (cached per policy object, which the waypoint's store keeps until a new version
 * arrives) into checks: one per populated field, each with the field path a user wrote (`from[0].source.principals`)
 * so that an explanation can name the first check that failed. A request is read once into a RequestView (lower-case
 * host, host without port, source facts parsed only when a check needs them).
 */

export interface L7Decision extends AuthzDecision {
  /** Index (in the deciding policy's `rules`) of the rule that matched. */
  readonly rule?: number;
}

/** One policy's part in a request's decision, for `ambitctl policy explain`. */
export interface L7PolicyExplanation {
  readonly policy: string;
  readonly action: L7Authorization['action'];
  readonly dryRun: boolean;
  /** `Gateway ns/name` or `Service hostname`, as the policy targets them. */
  readonly targets: readonly string[];
  /** Index of the first matching rule; absent when none matched. */
  readonly matchedRule?: number;
  /** Why each rule did not match (empty when one matched). */
  readonly why: readonly string[];
}

/** The facts of one request as checks read them. */
class RequestView {
  readonly host: string;
  /** The host without a trailing `:port` (Istio matches hosts with or without it); undefined when it had none. */
  readonly hostNoPort: string | undefined;
  #src: SourceFacts | undefined;

  constructor(readonly req: L7RequestFacts) {
    this.host = req.host.toLowerCase();
    const m = /^(.*):\d+$/.exec(this.host);
    // A bare IPv6 address (`::1`) ends in digits after a colon too: only strip when what remains is not empty and
    // is a name, an IPv4 address or a bracketed IPv6 address.
    this.hostNoPort = m?.[1] !== undefined && m[1] !== '' && (!m[1].includes(':') || m[1].endsWith(']')) ? m[1] : undefined;
  }

  get src(): SourceFacts {
    return (this.#src ??= sourceFacts(this.req.sourceIdentity));
  }
}

/** One populated field: whether it holds, and how to say it did not. */
interface Check {
  /** As the policy spells it: `from[0].source.notPrincipals`, `when[1] request.headers[x-tenant] notValues`. */
  readonly field: string;
  /** The field's values, for messages. */
  readonly values: string;
  /** True for a `not*` field: it fails when a value matches. */
  readonly negated: boolean;
  holds(v: RequestView): boolean;
  /** The request's value the field compared (for messages). */
  actual(v: RequestView): string | undefined;
}

interface CompiledRule {
  /** Alternatives (OR); each a list of checks (AND). Empty: no constraint. */
  readonly from: ReadonlyArray<readonly Check[]>;
  readonly to: ReadonlyArray<readonly Check[]>;
  /** Every check must hold. */
  readonly when: readonly Check[];
}

interface CompiledPolicy {
  readonly key: string;
  readonly rules: readonly CompiledRule[];
}

const compiledPolicies = new WeakMap<L7Authorization, CompiledPolicy>();

function compiled(p: L7Authorization): CompiledPolicy {
  let c = compiledPolicies.get(p);
  if (c === undefined) {
    c = { key: l7AuthorizationKey(p), rules: p.rules.map(compileRule) };
    compiledPolicies.set(p, c);
  }
  return c;
}

function compileRule(rule: L7Rule): CompiledRule {
  return {
    from: rule.from.map((s, i) => compileSource(s, `from[${i}].source`)),
    to: rule.to.map((o, i) => compileOperation(o, `to[${i}].operation`)),
    when: rule.when.flatMap((c, i) => compileCondition(c, `when[${i}]`)),
  };
}

const matchText = (m: StringMatch): string =>
  'exact' in m ? m.exact : 'prefix' in m ? `${m.prefix}*` : 'suffix' in m ? `*${m.suffix}` : '*';
const cidrText = (c: Cidr): string => `${c.address}/${c.length}`;
const saText = (s: ServiceAccountMatch): string => `${s.namespace}/${s.serviceAccount}`;

/**
 * A positive field (one value must match) and its `not` form (no value may match); an empty list adds no check.
 * `test` compares one policy value with the request.
 */
function pair<T>(
  out: Check[],
  field: string,
  notField: string,
  values: readonly T[],
  notValues: readonly T[],
  text: (t: T) => string,
  test: (t: T, v: RequestView) => boolean,
  actual: (v: RequestView) => string | undefined,
): void {
  if (values.length > 0) {
    out.push({
      field,
      values: values.map(text).join(', '),
      negated: false,
      holds: (v) => values.some((t) => test(t, v)),
      actual,
    });
  }
  if (notValues.length > 0) {
    out.push({
      field: notField,
      values: notValues.map(text).join(', '),
      negated: true,
      holds: (v) => !notValues.some((t) => test(t, v)),
      actual,
    });
  }
}

function compileSource(s: L7Source, path: string): Check[] {
  const out: Check[] = [];
  const f = (name: string): string => `${path}.${name}`;
  const principal = (v: RequestView): string | undefined => v.src.principal;
  const namespace = (v: RequestView): string | undefined => v.src.namespace;
  const sa = (v: RequestView): string | undefined =>
    v.src.namespace === undefined ? undefined : `${v.src.namespace}/${v.src.serviceAccount ?? ''}`;
  const saTest = (m: ServiceAccountMatch, v: RequestView): boolean =>
    v.src.namespace === m.namespace && v.src.serviceAccount === m.serviceAccount;
  pair(
    out,
    f('principals'),
    f('notPrincipals'),
    s.principals,
    s.notPrincipals,
    matchText,
    (m, v) => stringMatches(m, v.src.principal),
    principal,
  );
  pair(
    out,
    f('namespaces'),
    f('notNamespaces'),
    s.namespaces,
    s.notNamespaces,
    matchText,
    (m, v) => stringMatches(m, v.src.namespace),
    namespace,
  );
  pair(out, f('serviceAccounts'), f('notServiceAccounts'), s.serviceAccounts, s.notServiceAccounts, saText, saTest, sa);
  pair(
    out,
    f('ipBlocks'),
    f('notIpBlocks'),
    s.ipBlocks,
    s.notIpBlocks,
    cidrText,
    (c, v) => cidrMatches(c, v.req.sourceIp),
    (v) => v.req.sourceIp,
  );
  pair(
    out,
    f('remoteIpBlocks'),
    f('notRemoteIpBlocks'),
    s.remoteIpBlocks,
    s.notRemoteIpBlocks,
    cidrText,
    (c, v) => cidrMatches(c, v.req.remoteIp),
    (v) => v.req.remoteIp,
  );
  return out;
}

/** Hosts compare lower-case (policy values are lower-cased here too), with or without the request's port. */
function hostMatches(m: StringMatch, v: RequestView): boolean {
  return stringMatches(m, v.host) || (v.hostNoPort !== undefined && stringMatches(m, v.hostNoPort));
}

function lowerMatch(m: StringMatch): StringMatch {
  if ('exact' in m) return { exact: m.exact.toLowerCase() };
  if ('prefix' in m) return { prefix: m.prefix.toLowerCase() };
  if ('suffix' in m) return { suffix: m.suffix.toLowerCase() };
  return m;
}

function compileOperation(o: L7Operation, path: string): Check[] {
  const out: Check[] = [];
  const f = (name: string): string => `${path}.${name}`;
  const port = (v: RequestView): string => String(v.req.destinationPort);
  pair(out, f('hosts'), f('notHosts'), o.hosts.map(lowerMatch), o.notHosts.map(lowerMatch), matchText, hostMatches, (v) => v.host);
  pair(out, f('ports'), f('notPorts'), o.ports, o.notPorts, String, (p, v) => p === v.req.destinationPort, port);
  pair(
    out,
    f('methods'),
    f('notMethods'),
    o.methods,
    o.notMethods,
    matchText,
    (m, v) => stringMatches(m, v.req.method),
    (v) => v.req.method,
  );
  pair(
    out,
    f('paths'),
    f('notPaths'),
    o.paths,
    o.notPaths,
    matchText,
    (m, v) => stringMatches(m, v.req.path),
    (v) => v.req.path,
  );
  return out;
}

function compileCondition(c: L7Condition, path: string): Check[] {
  const out: Check[] = [];
  switch (c.key) {
    case 'request.headers': {
      const name = c.header;
      const f = `${path} request.headers[${name}]`;
      const actual = (v: RequestView): string | undefined => v.req.header(name);
      pair(out, `${f} values`, `${f} notValues`, c.values, c.notValues, matchText, (m, v) => stringMatches(m, v.req.header(name)), actual);
      return out;
    }
    case 'source.ip':
    case 'remote.ip': {
      const ip = c.key === 'source.ip' ? (v: RequestView): string => v.req.sourceIp : (v: RequestView): string => v.req.remoteIp;
      pair(
        out,
        `${path} ${c.key} values`,
        `${path} ${c.key} notValues`,
        c.values,
        c.notValues,
        cidrText,
        (x, v) => cidrMatches(x, ip(v)),
        ip,
      );
      return out;
    }
    case 'source.namespace':
    case 'source.principal':
    case 'connection.sni': {
      const get =
        c.key === 'source.namespace'
          ? (v: RequestView): string | undefined => v.src.namespace
          : c.key === 'source.principal'
            ? (v: RequestView): string | undefined => v.src.principal
            : (v: RequestView): string | undefined => v.req.sni;
      pair(
        out,
        `${path} ${c.key} values`,
        `${path} ${c.key} notValues`,
        c.values,
        c.notValues,
        matchText,
        (m, v) => stringMatches(m, get(v)),
        get,
      );
      return out;
    }
    case 'destination.port': {
      const port = (v: RequestView): string => String(v.req.destinationPort);
      pair(
        out,
        `${path} destination.port values`,
        `${path} destination.port notValues`,
        c.values,
        c.notValues,
        String,
        (p, v) => p === v.req.destinationPort,
        port,
      );
      return out;
    }
  }
}

const allHold = (checks: readonly Check[], v: RequestView): boolean => checks.every((c) => c.holds(v));
const anyHolds = (alternatives: ReadonlyArray<readonly Check[]>, v: RequestView): boolean =>
  alternatives.length === 0 || alternatives.some((checks) => allHold(checks, v));

function ruleMatches(r: CompiledRule, v: RequestView): boolean {
  return anyHolds(r.from, v) && anyHolds(r.to, v) && allHold(r.when, v);
}

/** Index of the first matching rule of `c`, or -1 (always -1 for a policy without rules). */
function matchingRule(c: CompiledPolicy, v: RequestView): number {
  return c.rules.findIndex((r) => ruleMatches(r, v));
}

const NO_POLICY: L7Decision = { allow: true, reason: 'no ALLOW policy applies' };

function decideRequest(policies: readonly L7Authorization[], v: RequestView): L7Decision {
  let deny: CompiledPolicy | undefined;
  let dryDeny: CompiledPolicy | undefined;
  const allows: CompiledPolicy[] = [];
  const dryAllows: CompiledPolicy[] = [];
  const ruleOf = new Map<string, number>();
  for (const p of policies) {
    const c = compiled(p);
    if (p.action === 'DENY') {
      if (p.dryRun ? dryDeny !== undefined : deny !== undefined) continue;
      const i = matchingRule(c, v);
      if (i < 0) continue;
      ruleOf.set(c.key, i);
      if (p.dryRun) dryDeny = c;
      else deny = c;
    } else (p.dryRun ? dryAllows : allows).push(c);
  }
  const matching = (list: readonly CompiledPolicy[]): string | undefined => {
    for (const c of list) {
      const i = matchingRule(c, v);
      if (i >= 0) {
        ruleOf.set(c.key, i);
        return c.key;
      }
    }
    return undefined;
  };
  const d = decide({
    deny: deny?.key,
    dryDeny: dryDeny?.key,
    hasAllow: allows.length > 0,
    hasDryAllow: dryAllows.length > 0,
    allowKeys: allows.map((c) => c.key),
    findAllow: () => matching(allows),
    findDryAllow: () => matching(dryAllows),
  });
  const rule = d.policy === undefined ? undefined : ruleOf.get(d.policy);
  return rule === undefined ? d : { ...d, rule, reason: `${d.reason} rules[${rule}]` };
}

/**
 * The decision for one request over the policies that apply to it (the waypoint's Gateway-targeted ones and those
 * of the addressed Service; any order). Allowed when none apply.
 */
export function authorizeRequest(policies: readonly L7Authorization[], req: L7RequestFacts): L7Decision {
  if (policies.length === 0) return NO_POLICY;
  return decideRequest(policies, new RequestView(req));
}

const quoted = (s: string | undefined): string => (s === undefined ? '(none)' : JSON.stringify(s));

function failure(checks: readonly Check[], v: RequestView): string {
  const c = checks.find((x) => !x.holds(v));
  if (c === undefined) return 'holds';
  return `${c.field} [${c.values}] ${c.negated ? 'matches' : 'does not match'} ${quoted(c.actual(v))}`;
}

function whyRuleFails(r: CompiledRule, v: RequestView): string | undefined {
  if (!anyHolds(r.from, v)) return r.from.map((checks) => failure(checks, v)).join('; or ');
  if (!anyHolds(r.to, v)) return r.to.map((checks) => failure(checks, v)).join('; or ');
  if (!allHold(r.when, v)) return failure(r.when, v);
  return undefined;
}

function targetText(t: L7Authorization['targets'][number]): string {
  return t.kind === 'Gateway' ? `Gateway ${t.namespace}/${t.name}` : `Service ${t.hostname}`;
}

function explainPolicy(p: L7Authorization, v: RequestView): L7PolicyExplanation {
  const c = compiled(p);
  const base = { policy: c.key, action: p.action, dryRun: p.dryRun, targets: p.targets.map(targetText) };
  if (c.rules.length === 0) return { ...base, why: ['the policy has no rules (it matches nothing)'] };
  const why: string[] = [];
  for (const [i, r] of c.rules.entries()) {
    const reason = whyRuleFails(r, v);
    if (reason === undefined) return { ...base, matchedRule: i, why: [] };
    why.push(`rules[${i}]: ${reason}`);
  }
  return { ...base, why };
}

/** The decision for `req` and, per policy, the rule that matched or why each rule did not. */
export function explainRequest(
  policies: readonly L7Authorization[],
  req: L7RequestFacts,
): { decision: L7Decision; policies: readonly L7PolicyExplanation[] } {
  const v = new RequestView(req);
  return {
    decision: policies.length === 0 ? NO_POLICY : decideRequest(policies, v),
    policies: policies.map((p) => explainPolicy(p, v)),
  };
}

/** `scheme://authority` of an absolute-form request target (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The path policies match, from a request target: without the query or fragment, the path of an absolute-form target,
 * and normalised as Envoy does before its RBAC filter (Istio's default `BASE` normalisation: RFC 3986 §5.2.4 dot
 * segments removed, `%2e` read as `.`, `\` as `/`). Otherwise `/public/../private` would pass an ALLOW on `/public/*`
 * and a DENY on `/private` alike, and reach a backend that resolves it to `/private`.
 */
export function l7RequestPath(target: string): string {
  const abs = ABSOLUTE_FORM.exec(target);
  let path = abs === null ? target : target.slice(abs[0].length) || '/';
  const end = path.search(/[?#]/);
  if (end >= 0) path = path.slice(0, end);
  if (!path.startsWith('/') || !/[.\\%]/.test(path)) return path;
  return removeDotSegments(path.replace(/%2e/gi, '.').replace(/\\/g, '/'));
}

/**
 * The request target the waypoint routes and forwards: the normalised path of l7RequestPath with the query kept. Envoy
 * (Istio's default `normalize_path`) forwards the normalised path too; policy and routing must see the path the
 * backend will see, or `/public/../private` would pass an ALLOW on `/public/*` and reach `/private`.
 */
export function normalizeRequestTarget(target: string): string {
  const path = l7RequestPath(target);
  const q = target.indexOf('?');
  if (q < 0) return path;
  const hash = target.indexOf('#', q);
  return `${path}${hash < 0 ? target.slice(q) : target.slice(q, hash)}`;
}

/** RFC 3986 §5.2.4 for an absolute path. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] ?? '';
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      // A trailing `.` or `..` leaves a directory path (`/a/b/..` → `/a/`).
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

/** Request facts from plain values (the CLI's, and tests'): headers by lower-case name. */
export function l7RequestFacts(
  facts: Omit<L7RequestFacts, 'header'> & { readonly headers?: Readonly<Record<string, string>> },
): L7RequestFacts {
  const headers = new Map(Object.entries(facts.headers ?? {}).map(([k, val]) => [k.toLowerCase(), val]));
  const { headers: _ignored, ...rest } = facts;
  return { ...rest, header: (name) => headers.get(name.toLowerCase()) };
}
