import type { ServiceTraffic, Subset, TrafficPolicy } from '@ambit/core/traffic';
import type { UpstreamPoolSettings } from '../proxy/upstream.ts';

/**
 * A subset's policy over the Service's, as Istio merges them (pilot networking/util MergeTrafficPolicy): each
 * top-level field the subset sets (connectionPool, outlierDetection, loadBalancer) replaces the Service's whole field.
 */
export function mergePolicy(service: TrafficPolicy | undefined, subset: TrafficPolicy | undefined): TrafficPolicy {
  const connectionPool = subset?.connectionPool ?? service?.connectionPool;
  const outlierDetection = subset?.outlierDetection ?? service?.outlierDetection;
  const loadBalancer = subset?.loadBalancer ?? service?.loadBalancer;
  return {
    ...(connectionPool === undefined ? {} : { connectionPool }),
    ...(outlierDetection === undefined ? {} : { outlierDetection }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
  };
}

/** Whether the ServiceTraffic changes how endpoints are chosen or connected to (else: the default path, no cluster). */
export function hasEndpointPolicy(t: ServiceTraffic): boolean {
  return t.trafficPolicy !== undefined || t.subsets.some((s) => s.trafficPolicy !== undefined);
}

/**
 * What identifies the policy of a cluster: clusters are rebuilt (state dropped) only when this changes. Subset
 * membership (`workloads`) is left out: pods coming and going are endpoint churn, applied in place.
 */
export function policyIdentity(t: ServiceTraffic): string {
  return JSON.stringify([t.trafficPolicy ?? null, t.subsets.map((s: Subset) => [s.name, s.trafficPolicy ?? null])]);
}

/**
 * The connection settings of a policy's endpoints' upstream pools; undefined when it sets none (the shared default
 * pools serve them). `maxConnections` also bounds each endpoint's pool: the breaker never lets more requests through
 * to the cluster, so an endpoint never needs more.
 */
export function poolSettings(policy: TrafficPolicy): UpstreamPoolSettings | undefined {
  const p = policy.connectionPool;
  if (p === undefined) return undefined;
  // As Istio, a value of 0 is unset (the default applies).
  const positive = (n: number | undefined): number | undefined => (n === undefined || !(n > 0) ? undefined : n);
  const maxConnections = positive(p.maxConnections);
  const perConnection = positive(p.maxRequestsPerConnection);
  const idleTimeoutMs = positive(p.idleTimeoutMs);
  if (maxConnections === undefined && perConnection === undefined && idleTimeoutMs === undefined) return undefined;
  return {
    id: `c${maxConnections ?? '-'}r${perConnection ?? '-'}i${idleTimeoutMs ?? '-'}`,
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(perConnection === undefined ? {} : { maxRequestsPerConnection: perConnection }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  };
}
