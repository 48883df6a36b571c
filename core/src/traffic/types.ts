/**
 * How a waypoint treats traffic *to* one Service (the destination host), beyond routing: what the controller computes
 * from the `networking.istio.io/v1` DestinationRule whose `host` is the Service, the Service's
 * `ambit.dev/retry-budget` annotation and the `ambit.dev/v1alpha1` LocalRateLimit that targets it, and pushes over
 * xDS as one resource per Service. Plain readonly data; durations in milliseconds; absent = the default named on the
 * field. Istio's field docs: https://istio.io/latest/docs/reference/config/networking/destination-rule/
 */

/** DestinationRule `trafficPolicy.connectionPool` (Envoy circuit breakers of the upstream cluster). */
export interface ConnectionPool {
  /** `tcp.maxConnections`: connections to all endpoints of the cluster together. Absent: unlimited. */
  readonly maxConnections?: number;
  /** `http.http1MaxPendingRequests`: requests queued waiting for a connection. Absent: unlimited. Over → 503 UO. */
  readonly http1MaxPendingRequests?: number;
  /** `http.http2MaxRequests`: requests in flight to the cluster (any protocol, as Envoy's max_requests). Absent: unlimited. */
  readonly http2MaxRequests?: number;
  /** `http.maxRequestsPerConnection`: a connection is closed after this many requests. Absent/0: unlimited. */
  readonly maxRequestsPerConnection?: number;
  /** `http.idleTimeout`: an upstream connection idle this long is closed. Absent: the waypoint's default (60 s). */
  readonly idleTimeoutMs?: number;
}

/** DestinationRule `trafficPolicy.outlierDetection` (passive health checking per endpoint). */
export interface OutlierDetection {
  /** Consecutive 5xx (and connect failures, resets) that eject an endpoint; 0 disables. Istio default 5. */
  readonly consecutive5xxErrors: number;
  /** Consecutive 502/503/504 (and connect failures) that eject; 0 disables (the default). */
  readonly consecutiveGatewayErrors: number;
  /** How often ejections are reviewed (an ejected endpoint returns at the first sweep after its time). Default 10 s. */
  readonly intervalMs: number;
  /** Ejection time = this × the number of times the endpoint has been ejected. Default 30 s. */
  readonly baseEjectionTimeMs: number;
  /** At most this percentage of the endpoints ejected at once (at least one is always allowed). Default 10. */
  readonly maxEjectionPercent: number;
  /** Outlier detection is off while fewer than this percentage of endpoints are healthy. Default 0. */
  readonly minHealthPercent: number;
}

export type SimpleLb = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH';

export type HashKey =
  /** `httpHeaderName`: lower-case header name; a request without it is hashed at random. */
  | { readonly type: 'header'; readonly name: string }
  /** `httpCookie`: when the request has no such cookie and `ttlMs` is set, the waypoint generates one and sets it. */
  | { readonly type: 'cookie'; readonly name: string; readonly path?: string; readonly ttlMs?: number }
  /** `useSourceIp`: the original caller's IP. */
  | { readonly type: 'sourceIp' }
  /** `httpQueryParameterName`. */
  | { readonly type: 'queryParameter'; readonly name: string };

export type LoadBalancer =
  | { readonly kind: 'simple'; readonly simple: SimpleLb }
  | {
      readonly kind: 'consistentHash';
      readonly key: HashKey;
      /** `ringHash` (default, `minimumRingSize` default 1024) or `maglev` (`tableSize` default 65537, a prime). */
      readonly algorithm:
        { readonly type: 'RING_HASH'; readonly minimumRingSize: number } | { readonly type: 'MAGLEV'; readonly tableSize: number };
    };

export interface TrafficPolicy {
  readonly connectionPool?: ConnectionPool;
  readonly outlierDetection?: OutlierDetection;
  /** Absent: LEAST_REQUEST (Istio's default). */
  readonly loadBalancer?: LoadBalancer;
}

/** A DestinationRule subset, resolved by the controller to the workloads its labels select now. */
export interface Subset {
  readonly name: string;
  /** Workload uids (as in the Address resources) of the Service's endpoints that carry the subset's labels. */
  readonly workloads: readonly string[];
  /** Applies to requests sent to those endpoints, in place of the Service-level policy (merged field by field as Istio: a subset's field wins). */
  readonly trafficPolicy?: TrafficPolicy;
}

/** Linkerd's retry budget (https://linkerd.io/2/reference/service-profiles/#retry-budget), per destination Service. */
export interface RetryBudget {
  /** Retries allowed as a fraction of original requests (20 % = 0.2), over the last `ttlMs`. */
  readonly retryRatio: number;
  /** Retries per second always allowed on top (the floor). */
  readonly minRetriesPerSecond: number;
  /** The window over which requests earn retries. */
  readonly ttlMs: number;
}

/** Applies when a Service has no (valid) `ambit.dev/retry-budget` annotation. */
export const DEFAULT_RETRY_BUDGET: RetryBudget = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

/** The annotation on a Service: `retryRatio=0.2,minRetriesPerSecond=10,ttl=10s` (any subset of the keys). */
export const RETRY_BUDGET_ANNOTATION = 'ambit.dev/retry-budget';

/** `ambit.dev/v1alpha1` LocalRateLimit (modelled on Linkerd's HTTPLocalRateLimitPolicy), per waypoint replica. */
export interface RateLimit {
  /** `namespace/name` of the LocalRateLimit, for logs and headers. */
  readonly policy: string;
  /** `total.requestsPerSecond`: one bucket for every client together. */
  readonly total?: TokenBucket;
  /** `identity.requestsPerSecond`: one bucket per client identity (SPIFFE ID). */
  readonly perIdentity?: TokenBucket;
  /** `overrides[]`: a bucket per listed client identity, in place of `perIdentity` for them. */
  readonly overrides: ReadonlyArray<{ readonly bucket: TokenBucket; readonly identities: readonly string[] }>;
}

export interface TokenBucket {
  readonly requestsPerSecond: number;
  /** Requests allowed at once on a full bucket; default max(2, requestsPerSecond / 10) (100 ms of rate, at least 2). */
  readonly burst: number;
}

export interface ServiceTraffic {
  readonly service: { readonly namespace: string; readonly hostname: string };
  /** `namespace/name` of the DestinationRule that supplied `trafficPolicy`/`subsets`, if any. */
  readonly destinationRule?: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly Subset[];
  /** Absent: DEFAULT_RETRY_BUDGET. */
  readonly retryBudget?: RetryBudget;
  readonly rateLimit?: RateLimit;
}

/** xDS: one resource per Service, name `namespace/hostname` (serviceTrafficKey), body the ServiceTraffic as UTF-8 JSON. */
export const SERVICE_TRAFFIC_TYPE_URL = 'type.googleapis.com/ambit.waypoint.ServiceTraffic';

export const serviceTrafficKey = (s: { readonly namespace: string; readonly hostname: string }): string => `${s.namespace}/${s.hostname}`;
