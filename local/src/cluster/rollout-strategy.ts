import { asRecord, describeValue, type FieldReader } from '@ambit/core';

/**
 * A Deployment's `spec.strategy` and `minReadySeconds`, read with Kubernetes' defaults (RollingUpdate, maxSurge and
 * maxUnavailable 25 %) and validation (ValidateRollingUpdateDeployment: an int or a percentage, not both 0,
 * maxUnavailable at most 100 %).
 */
export type DeploymentStrategy =
  | { readonly type: 'Recreate' }
  | { readonly type: 'RollingUpdate'; readonly maxSurge: number | string; readonly maxUnavailable: number | string };

const PERCENT = /^(\d+)%$/;

function intOrPercent(c: FieldReader<undefined>, v: unknown, field: string, dflt: string): number | string {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && PERCENT.test(v)) return v;
  c.fail(field, `must be a non-negative integer or a percentage (e.g. "25%"), got ${describeValue(v)}`);
  return dflt;
}

/** Reads `spec.strategy` (of a Deployment spec `spec` at `path`); problems go to the collecting reader `c`. */
export function readDeploymentStrategy(c: FieldReader<undefined>, spec: Record<string, unknown>, path = 'spec'): DeploymentStrategy {
  c.optInteger(spec['minReadySeconds'], `${path}.minReadySeconds`, 0, 2_147_483_647);
  const strategy = c.optRecord(spec['strategy'], `${path}.strategy`) ?? {};
  const type = c.optOneOf(strategy['type'], `${path}.strategy.type`, ['Recreate', 'RollingUpdate'] as const) ?? 'RollingUpdate';
  const ru = c.optRecord(strategy['rollingUpdate'], `${path}.strategy.rollingUpdate`);
  if (type === 'Recreate') {
    if (ru !== undefined) c.fail(`${path}.strategy.rollingUpdate`, "may not be specified when strategy `type` is 'Recreate'");
    return { type };
  }
  const rp = `${path}.strategy.rollingUpdate`;
  const maxSurge = intOrPercent(c, ru?.['maxSurge'], `${rp}.maxSurge`, '25%');
  const maxUnavailable = intOrPercent(c, ru?.['maxUnavailable'], `${rp}.maxUnavailable`, '25%');
  const isZero = (v: number | string): boolean => v === 0 || v === '0%';
  if (isZero(maxSurge) && isZero(maxUnavailable)) c.fail(`${rp}.maxUnavailable`, 'may not be 0 when `maxSurge` is 0');
  if (typeof maxUnavailable === 'string' && Number(PERCENT.exec(maxUnavailable)?.[1]) > 100) {
    c.fail(`${rp}.maxUnavailable`, 'must not be greater than 100%');
  }
  return { type, maxSurge, maxUnavailable };
}

/** intstr.GetScaledValueFromIntOrPercent. */
function scaled(v: number | string, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  const pct = Number(PERCENT.exec(v)?.[1] ?? 0);
  return roundUp ? Math.ceil((pct * total) / 100) : Math.floor((pct * total) / 100);
}

/**
 * The surge and unavailability budgets for `replicas` (deploymentutil.ResolveFenceposts and MaxUnavailable): surge
 * rounds up, unavailability down; both 0 makes unavailability 1; unavailability is at most `replicas`.
 */
export function resolveFenceposts(strategy: DeploymentStrategy, replicas: number): { maxSurge: number; maxUnavailable: number } {
  if (strategy.type !== 'RollingUpdate') return { maxSurge: 0, maxUnavailable: 0 };
  const maxSurge = scaled(strategy.maxSurge, replicas, true);
  let maxUnavailable = scaled(strategy.maxUnavailable, replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

/** `spec.minReadySeconds` of a Deployment or ReplicaSet spec; 0 when unset. */
export function minReadySecondsOf(spec: Record<string, unknown>): number {
  const v = asRecord(spec)['minReadySeconds'];
  return typeof v === 'number' && v > 0 ? v : 0;
}
