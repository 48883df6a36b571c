import type { RouteMatch, RouteParent, RouteRule, RouteSet } from '@ambit/core/routes';
import type { RouteKind } from './route-objects.ts';

/**
 * Flattening the routes of one parent into a RouteSet in Gateway API precedence (`HTTPRouteRule.matches` in
 * `apis/v1/httproute_types.go`), so the waypoint can take the first entry that matches:
 * 1. an Exact path before any PathPrefix, a PathPrefix before any RegularExpression (the spec leaves regular
 *    expressions to the implementation; Istio's sortHTTPRoutes puts them after prefixes, and so do we); within a
 *    type, the longer value first ("PathPrefix with the largest number of characters");
 * 2. a match with a method before one without;
 * 3. more header matches first; 4. more query parameter matches first;
 * then, across routes, the oldest creationTimestamp, then `namespace/name` alphabetically; within a route, rule
 * order, then match order. GRPCRoute matches arrive here as path matches (plus a content-type header match), so one
 * order serves both kinds.
 */

export interface ConvertedRule {
  readonly rule: RouteRule;
  readonly matches: readonly RouteMatch[];
}

export interface AttachedRoute {
  readonly kind: RouteKind;
  /** metadata.creationTimestamp in ms; +Infinity when unknown (an object without one sorts as the newest). */
  readonly createdMs: number;
  /** `namespace/name`. */
  readonly namespacedName: string;
  readonly rules: readonly ConvertedRule[];
}

interface Candidate {
  readonly match: RouteMatch;
  /** Index into the set's rules, which are in route order then rule order: comparing it breaks the remaining ties. */
  readonly rule: number;
  readonly matchIndex: number;
}

export function assembleRouteSet(parent: RouteParent, routes: readonly AttachedRoute[]): RouteSet {
  const rules: RouteRule[] = [];
  const candidates: Candidate[] = [];
  for (const route of [...routes].sort(compareRoutes)) {
    for (const c of route.rules) {
      const rule = rules.push(c.rule) - 1;
      c.matches.forEach((match, matchIndex) => candidates.push({ match, rule, matchIndex }));
    }
  }
  candidates.sort(compareCandidates);
  return { parent, rules, entries: candidates.map((c) => ({ match: c.match, rule: c.rule })) };
}

/** Oldest first, then `namespace/name`, then kind (an HTTPRoute and a GRPCRoute may share a name). */
export function compareRoutes(a: AttachedRoute, b: AttachedRoute): number {
  if (a.createdMs !== b.createdMs) return a.createdMs < b.createdMs ? -1 : 1;
  if (a.namespacedName !== b.namespacedName) return a.namespacedName < b.namespacedName ? -1 : 1;
  return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
}

/** Specificity of two matches: negative when `a` goes first; 0 when the spec's criteria tie. */
export function compareMatches(a: RouteMatch, b: RouteMatch): number {
  return (
    pathRank(b) - pathRank(a) ||
    (b.path?.value.length ?? 0) - (a.path?.value.length ?? 0) ||
    Number(b.method !== undefined) - Number(a.method !== undefined) ||
    b.headers.length - a.headers.length ||
    b.queryParams.length - a.queryParams.length
  );
}

function compareCandidates(a: Candidate, b: Candidate): number {
  return compareMatches(a.match, b.match) || a.rule - b.rule || a.matchIndex - b.matchIndex;
}

function pathRank(m: RouteMatch): number {
  switch (m.path?.type) {
    case 'Exact':
      return 3;
    case 'PathPrefix':
      return 2;
    case 'RegularExpression':
      return 1;
    case undefined:
      return 0;
  }
}

export function creationMs(timestamp: string): number {
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}
