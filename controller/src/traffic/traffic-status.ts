import type { Condition } from '../status/status-writer.ts';

/**
 * Status conditions of the traffic objects (contract 5): a DestinationRule gets Istio's `WaypointAccepted` (it only
 * takes effect in a waypoint in ambient mode), LocalRateLimit and HTTPFault get `Accepted`. Messages name the waypoint
 * that applies the object, every field that is ignored, and for a bad field its full path.
 */

/** A field that did not read: `field` is the full JSON path. */
export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

/** At most this many ignored fields or notes are spelled out; the rest are counted. */
const MAX_LISTED = 6;

export function list(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join('; ');
  return items.length > MAX_LISTED ? `${shown}; and ${items.length - MAX_LISTED} more` : shown;
}

/** A bad field: False naming it; when an earlier version was good, that one is still what runs. */
export function invalidCondition(type: string, problem: FieldProblem, lastGood: boolean): Condition {
  const kept = lastGood ? '; the last valid version stays in force' : '; nothing of this object is applied';
  return { type, status: 'False', reason: 'Invalid', message: `${problem.field}: ${problem.message}${kept}` };
}

export const WAYPOINT_ACCEPTED = 'WaypointAccepted';

/** The note contract 5 asks for on a subset that carries no policy of its own. */
export function subsetRoutingNote(subset: string): string {
  return `subset ${subset} only names endpoints; in ambient mode route to a version with a Service per version and HTTPRoute weights`;
}

export function destinationRuleApplied(waypoint: string, host: string, ignored: readonly string[], notes: readonly string[]): Condition {
  const parts = [`applied by waypoint ${waypoint} to ${host}`];
  if (ignored.length > 0) parts.push(`ignored: ${list(ignored)}`);
  if (notes.length > 0) parts.push(list(notes));
  return { type: WAYPOINT_ACCEPTED, status: 'True', reason: 'Accepted', message: parts.join('; ') };
}

export function noWaypoint(type: string, host: string, what: string): Condition {
  return {
    type,
    status: 'False',
    reason: 'TargetNotFound',
    message: `no waypoint serves ${host}: ${what} is applied by waypoints only in ambient mode`,
  };
}

export function rejectedCondition(type: string, reason: 'TargetNotFound' | 'UnsupportedValue' | 'Conflicted', message: string): Condition {
  return { type, status: 'False', reason, message };
}

export function acceptedCondition(message: string): Condition {
  return { type: 'Accepted', status: 'True', reason: 'Accepted', message };
}
