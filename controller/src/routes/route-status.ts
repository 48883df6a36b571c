import type { Condition } from '../status/status-writer.ts';
import type { BackendProblem, ParentDecision } from './route-resolve.ts';
import { MESH_CONTROLLER_NAME, type ParentRefView, type RouteView } from './route-objects.ts';

/**
 * `status.parents[]` entries for the parentRefs that are ours (Gateway API RouteParentStatus): `Accepted` says whether
 * the route is attached to that parent, `ResolvedRefs` whether every backendRef resolved, and `PartiallyInvalid`
 * appears when some rules were dropped — the spec's "Drop Rule(s)" approach: the valid rules are served, Accepted stays
 * True, the message starts with "Dropped Rule". With no valid rule left, Accepted is False.
 */

export interface RouteParentStatus {
  readonly parentRef: Readonly<Record<string, string | number>>;
  readonly controllerName: string;
  readonly conditions: readonly Condition[];
}

/** At most this many problems are spelled out in one message; the rest are counted. */
const MAX_LISTED = 5;

export function routeParentStatuses(
  route: RouteView,
  decisions: ReadonlyArray<{ readonly ref: ParentRefView; readonly decision: ParentDecision }>,
  problems: readonly BackendProblem[],
): RouteParentStatus[] {
  const resolvedRefs = resolvedRefsCondition(problems);
  const partial = partiallyInvalidCondition(route);
  const out: RouteParentStatus[] = [];
  for (const { ref, decision } of decisions) {
    if (decision.kind === 'notOurs') continue;
    const conditions: Condition[] = [acceptedCondition(route, decision), resolvedRefs];
    if (decision.kind === 'attached' && partial !== undefined && route.rules.length > 0) conditions.push(partial);
    out.push({ parentRef: ref.written, controllerName: MESH_CONTROLLER_NAME, conditions });
  }
  return out;
}

function acceptedCondition(route: RouteView, decision: Exclude<ParentDecision, { kind: 'notOurs' }>): Condition {
  if (decision.kind === 'rejected') return { type: 'Accepted', status: 'False', reason: decision.reason, message: decision.message };
  const first = route.invalidRules[0];
  if (route.rules.length === 0 && first !== undefined) {
    return { type: 'Accepted', status: 'False', reason: first.reason, message: `no rule can be applied: ${listRules(route)}` };
  }
  return { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid' };
}

function partiallyInvalidCondition(route: RouteView): Condition | undefined {
  if (route.invalidRules.length === 0) return undefined;
  const indices = route.invalidRules.map((p) => p.index).join(', ');
  return {
    type: 'PartiallyInvalid',
    status: 'True',
    reason: 'UnsupportedValue',
    message: `Dropped Rule(s) ${indices}: ${listRules(route)}`,
  };
}

function resolvedRefsCondition(problems: readonly BackendProblem[]): Condition {
  const first = problems[0];
  if (first === undefined) return { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved' };
  return { type: 'ResolvedRefs', status: 'False', reason: first.reason, message: list(problems.map((p) => p.message)) };
}

function listRules(route: RouteView): string {
  return list(route.invalidRules.map((p) => p.message));
}

function list(messages: readonly string[]): string {
  const shown = messages.slice(0, MAX_LISTED).join('; ');
  return messages.length > MAX_LISTED ? `${shown}; and ${messages.length - MAX_LISTED} more` : shown;
}
