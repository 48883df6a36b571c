/**
 * Request matching and the request changes routes make, with Gateway API v1 semantics
 * (https://gateway-api.sigs.k8s.io/reference/spec/#httproutematch, #httppathmodifier). The waypoint calls these per
 * request and `ambitctl` explains with the same functions, so they are pure: no I/O, no clock, and no allocation on the
 * matching path beyond what a regular expression needs (compiled once per match object and cached).
 */
import type { HeaderModifier, PathMatch, PathModifier, RouteBackend, RouteRule, RouteSet, ValueMatch } from './types.ts';

/** What matching reads of a request. The waypoint adapts its HTTP/1.1 and HTTP/2 requests to this. */
export interface RequestFacts {
  /** Upper-case. */
  readonly method: string;
  /** Without the query string. */
  readonly path: string;
  /** Raw query string without '?'; '' when none. */
  readonly query: string;
  /** Lower-case name; several values joined with ','; undefined when absent. */
  header(name: string): string | undefined;
}

export interface RouteChoice {
  readonly rule: RouteRule;
  /** Index of `rule` in `RouteSet.rules`. */
  readonly ruleIndex: number;
  /** The PathPrefix value of the match that chose the rule (for ReplacePrefixMatch); undefined for other path matches. */
  readonly matchedPrefix?: string;
}

/**
 * The first entry of `set` (already in Gateway API precedence order) whose match the request satisfies; undefined
 * when none does (the spec's 404 for a parent that has routes but none matches).
 */
export function selectRoute(set: RouteSet, req: RequestFacts): RouteChoice | undefined {
  for (const entry of set.entries) {
    const m = entry.match;
    if (m.method !== undefined && m.method !== req.method) continue;
    if (m.path !== undefined && !pathMatches(m.path, req.path)) continue;
    if (!headersMatch(m.headers, req)) continue;
    if (!queryMatches(m.queryParams, req.query)) continue;
    const rule = set.rules[entry.rule];
    // The codec rejects out-of-range indices; a hand-built set that has one just cannot match through it.
    if (rule === undefined) continue;
    return m.path?.type === 'PathPrefix' ? { rule, ruleIndex: entry.rule, matchedPrefix: m.path.value } : { rule, ruleIndex: entry.rule };
  }
  return undefined;
}

/**
 * A backend chosen by weight, per request (Gateway API: weights are proportions of requests, not connections);
 * undefined when every weight is 0 (the spec's 500). `random` returns a number in [0, 1); default Math.random.
 */
export function pickBackend(rule: RouteRule, random: () => number = Math.random): RouteBackend | undefined {
  const backends = rule.backends;
  if (backends.length === 1) {
    const only = backends[0];
    return only !== undefined && only.weight > 0 ? only : undefined;
  }
  let total = 0;
  for (const b of backends) total += b.weight;
  if (total <= 0) return undefined;
  let point = random() * total;
  for (const b of backends) {
    if (b.weight <= 0) continue;
    if (point < b.weight) return b;
    point -= b.weight;
  }
  // Only reached when floating-point sums leave `point` a hair above the last weight: that is the last backend.
  for (let i = backends.length - 1; i >= 0; i--) {
    const b = backends[i];
    if (b !== undefined && b.weight > 0) return b;
  }
  return undefined;
}

/**
 * The path after a URLRewrite or RequestRedirect path modifier. ReplacePrefixMatch replaces the matched prefix on a
 * path-segment boundary and keeps the rest, following the spec's table (HTTPPathModifier): prefix `/foo` with `/xyz`
 * turns `/foo/bar` into `/xyz/bar`, `/foo/` into `/xyz/`, `/foo` into `/xyz`; an empty or `/` replacement turns
 * `/foo/bar` into `/bar` and `/foo` into `/`. Trailing slashes of the prefix and the replacement are ignored.
 * A query string on `path` (`?…`) is kept as is. Without `matchedPrefix` the rule matched everything (Gateway API's
 * default match is PathPrefix `/`).
 */
export function rewritePath(path: string, modifier: PathModifier, matchedPrefix: string | undefined): string {
  const q = path.indexOf('?');
  const query = q < 0 ? '' : path.slice(q);
  const bare = q < 0 ? path : path.slice(0, q);
  if (modifier.type === 'ReplaceFullPath') return (modifier.value === '' ? '/' : modifier.value) + query;
  const prefix = withoutTrailingSlash(matchedPrefix ?? '/');
  // The match guaranteed `bare` starts with the prefix on a segment boundary; anything else is a caller's mix-up, and
  // then the whole path counts as the rest rather than cutting a segment in half.
  const rest = prefixMatches(prefix, bare) ? bare.slice(prefix.length) : bare;
  const out = withoutTrailingSlash(modifier.value) + rest;
  return (out === '' ? '/' : out) + query;
}

/**
 * Applies an HTTPHeaderFilter to raw header pairs, as Envoy applies Istio's translation of it: `remove` first, then
 * `set` (replaces every value of that name with one; added when absent), then `add` (appended beside existing
 * values). Names are compared case-insensitively; the names the filter adds are written lower-case (valid for HTTP/1.1
 * and required by HTTP/2). Pairs the filter does not touch keep their order and spelling.
 */
export function modifyHeaders(pairs: ReadonlyArray<readonly [string, string]>, m: HeaderModifier): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (m.set.length === 0 && m.remove.length === 0) {
    for (const [k, v] of pairs) out.push([k, v]);
  } else {
    const removed = new Set(m.remove.map((n) => n.toLowerCase()));
    const setValues = new Map<string, string>();
    for (const h of m.set) setValues.set(h.name.toLowerCase(), h.value);
    const placed = new Set<string>();
    for (const [k, v] of pairs) {
      const lower = k.toLowerCase();
      if (removed.has(lower)) continue;
      const replacement = setValues.get(lower);
      if (replacement === undefined) {
        out.push([k, v]);
      } else if (!placed.has(lower)) {
        // The first occurrence keeps its place; later ones of the same name go.
        placed.add(lower);
        out.push([lower, replacement]);
      }
    }
    for (const [name, value] of setValues) if (!placed.has(name)) out.push([name, value]);
  }
  for (const h of m.add) out.push([h.name.toLowerCase(), h.value]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

function pathMatches(match: PathMatch, path: string): boolean {
  switch (match.type) {
    case 'Exact':
      return path === match.value;
    case 'PathPrefix':
      return prefixMatches(withoutTrailingSlash(match.value), path);
    case 'RegularExpression':
      return regexFor(match).test(path);
  }
}

/**
 * Gateway API PathPrefix: element by element on `/`, so `/foo` matches `/foo`, `/foo/` and `/foo/bar` but not
 * `/foobar`. `prefix` is already without its trailing slash ('' for `/`, which matches every path).
 */
function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === SLASH;
}

const SLASH = 0x2f;

function withoutTrailingSlash(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === SLASH) end--;
  return end === s.length ? s : s.slice(0, end);
}

function headersMatch(matches: readonly ValueMatch[], req: RequestFacts): boolean {
  for (const m of matches) {
    const value = req.header(m.name);
    if (value === undefined || !valueMatches(m, value)) return false;
  }
  return true;
}

function valueMatches(m: ValueMatch, value: string): boolean {
  return m.type === 'Exact' ? value === m.value : regexFor(m).test(value);
}

function queryMatches(matches: readonly ValueMatch[], query: string): boolean {
  for (const m of matches) {
    const value = queryParam(query, m.name);
    if (value === undefined || !valueMatches(m, value)) return false;
  }
  return true;
}

/**
 * The first value of query parameter `name` (exact, case-sensitive name, as the spec says), percent-decoded;
 * undefined when absent. `?flag` has the value ''. Scans the raw string rather than building a map per request.
 */
function queryParam(query: string, name: string): string | undefined {
  let start = 0;
  while (start <= query.length && query.length > 0) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const keyEnd = eq >= 0 && eq < end ? eq : end;
    if (decodeComponent(query.slice(start, keyEnd)) === name) {
      return keyEnd === end ? '' : decodeComponent(query.slice(keyEnd + 1, end));
    }
    start = end + 1;
  }
  return undefined;
}

function decodeComponent(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // A malformed escape is compared as written (it can still match a value written the same way).
    return s;
  }
}

/**
 * A RegularExpression match is a full match (Envoy's RE2 `safe_regex` semantics). The JavaScript engine is not RE2:
 * the codec rejects patterns it cannot compile, and the route author (who can already configure the proxy) owns the
 * cost of a pathological pattern. Compiled once per match object; the cache goes with the route set.
 */
const compiled = new WeakMap<PathMatch | ValueMatch, RegExp>();

function regexFor(m: PathMatch | ValueMatch): RegExp {
  let re = compiled.get(m);
  if (re === undefined) {
    re = compileFullMatch(m.value);
    compiled.set(m, re);
  }
  return re;
}

/** `pattern` anchored at both ends; throws SyntaxError when it does not compile (the codec reports that). */
export function compileFullMatch(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}
