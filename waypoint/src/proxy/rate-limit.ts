import { systemClock, type Clock } from '@ambit/core';
import type { RateLimit, TokenBucket } from '@ambit/core/traffic';
import type { HeaderPairs } from './headers.ts';
import { BucketState } from './token-bucket.ts';

/**
 * Local rate limiting (`ambit.dev/v1alpha1` LocalRateLimit, modelled on Linkerd's HTTPLocalRateLimitPolicy), per
 * waypoint replica: for each limited Service a `total` bucket shared by every client, and either the bucket of an
 * `overrides` entry that lists the client's identity (one bucket per entry, shared by the identities it lists, as
 * Linkerd's proxy does) or the client's own `perIdentity` bucket. A request passes only when every bucket that
 * applies to it (of every Service it is checked against) holds a token, and then takes one from each: a refused
 * request costs no bucket anything.
 *
 * State is per Service (`namespace/hostname`) and outlives config pushes: the limits are read from the ServiceTraffic
 * of the moment on each request, so a push that keeps a limit keeps its buckets as they are, and one that changes it
 * applies the new rate to the tokens already there.
 */
export interface RateLimiter {
  /** Checks and charges one request from `identity` (the caller's SPIFFE ID) against `limits`; undefined = admitted. */
  admit(limits: ReadonlyArray<{ readonly service: string; readonly limit: RateLimit }>, identity: string): RateLimitRefusal | undefined;
  /** Buckets held now (for tests and the config dump). */
  stats(): { readonly services: number; readonly identityBuckets: number };
}

export interface RateLimitRefusal {
  /** `namespace/name` of the LocalRateLimit whose bucket refused. */
  readonly policy: string;
  readonly service: string;
  readonly bucket: 'total' | 'identity' | 'override';
  readonly spec: TokenBucket;
  /** Until that bucket holds a token again (the longest wait when several refused). */
  readonly retryAfterMs: number;
}

export interface RateLimiterOptions {
  /** Default the system clock. */
  readonly clock?: Pick<Clock, 'now'>;
  /**
   * Per-identity buckets kept per Service; default 10,000. Past it, buckets that have refilled (which a new bucket
   * would equal) are dropped first, then the least recently used, so a flood of identities cannot grow memory.
   */
  readonly maxIdentityBuckets?: number;
  /** How often idle state (full buckets) is swept away; default 10,000 ms. */
  readonly sweepIntervalMs?: number;
}

interface ServiceBuckets {
  total: BucketState | undefined;
  /** Identity → bucket, least recently used first (re-inserted on use). */
  readonly identities: Map<string, BucketState>;
  /** Sorted identity list of an override entry → its bucket. */
  readonly overrides: Map<string, BucketState>;
  /** The limit last seen, for the sweep. */
  limit: RateLimit;
}

const overrideKey = (identities: readonly string[]): string => [...identities].sort().join('\n');

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const clock = options.clock ?? systemClock;
  const maxIdentities = options.maxIdentityBuckets ?? 10_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  const services = new Map<string, ServiceBuckets>();
  let lastSweepMs = clock.now();

  function stateFor(service: string, limit: RateLimit): ServiceBuckets {
    let s = services.get(service);
    if (s === undefined) services.set(service, (s = { total: undefined, identities: new Map(), overrides: new Map(), limit }));
    s.limit = limit;
    return s;
  }

  /** Drops full identity buckets; then, while still at the cap, the least recently used ones. */
  function makeRoom(s: ServiceBuckets, spec: TokenBucket, nowMs: number): void {
    for (const [id, b] of s.identities) if (b.isFull(spec, nowMs)) s.identities.delete(id);
    for (const id of s.identities.keys()) {
      if (s.identities.size < maxIdentities) break;
      s.identities.delete(id);
    }
  }

  /** Forgets what a fresh start would recreate identically (full buckets), and Services no longer limited. */
  function sweep(nowMs: number): void {
    lastSweepMs = nowMs;
    for (const [key, s] of services) {
      const { total, perIdentity } = s.limit;
      if (perIdentity === undefined) s.identities.clear();
      else for (const [id, b] of s.identities) if (b.isFull(perIdentity, nowMs)) s.identities.delete(id);
      const specs = new Map(s.limit.overrides.map((o) => [overrideKey(o.identities), o.bucket]));
      for (const [k, b] of s.overrides) {
        const spec = specs.get(k);
        if (spec === undefined || b.isFull(spec, nowMs)) s.overrides.delete(k);
      }
      if (s.total !== undefined && (total === undefined || s.total.isFull(total, nowMs))) s.total = undefined;
      if (s.total === undefined && s.identities.size === 0 && s.overrides.size === 0) services.delete(key);
    }
  }

  return {
    admit(limits, identity) {
      const nowMs = clock.now();
      if (nowMs - lastSweepMs >= sweepIntervalMs) sweep(nowMs);
      const charged: Array<{ state: BucketState; spec: TokenBucket }> = [];
      let refusal: RateLimitRefusal | undefined;
      const check = (service: string, policy: string, bucket: RateLimitRefusal['bucket'], state: BucketState, spec: TokenBucket): void => {
        if (state.hasToken(spec, nowMs)) {
          charged.push({ state, spec });
          return;
        }
        const retryAfterMs = state.msUntilToken(spec, nowMs);
        if (refusal === undefined || retryAfterMs > refusal.retryAfterMs) refusal = { policy, service, bucket, spec, retryAfterMs };
      };
      for (const { service, limit } of limits) {
        const override = limit.overrides.find((o) => o.identities.includes(identity));
        // No state for a Service none of whose buckets applies to this request.
        if (limit.total === undefined && override === undefined && limit.perIdentity === undefined) continue;
        const s = stateFor(service, limit);
        if (limit.total !== undefined) {
          s.total ??= new BucketState(limit.total, nowMs);
          check(service, limit.policy, 'total', s.total, limit.total);
        }
        if (override !== undefined) {
          const key = overrideKey(override.identities);
          let b = s.overrides.get(key);
          if (b === undefined) s.overrides.set(key, (b = new BucketState(override.bucket, nowMs)));
          check(service, limit.policy, 'override', b, override.bucket);
        } else if (limit.perIdentity !== undefined) {
          let b = s.identities.get(identity);
          if (b === undefined) {
            if (s.identities.size >= maxIdentities) makeRoom(s, limit.perIdentity, nowMs);
            b = new BucketState(limit.perIdentity, nowMs);
          } else s.identities.delete(identity);
          // (Re-)inserted last: Map order is least recently used first.
          s.identities.set(identity, b);
          check(service, limit.policy, 'identity', b, limit.perIdentity);
        }
      }
      if (refusal !== undefined) return refusal;
      for (const c of charged) c.state.take();
      return undefined;
    },
    stats() {
      let identityBuckets = 0;
      for (const s of services.values()) identityBuckets += s.identities.size;
      return { services: services.size, identityBuckets };
    },
  };
}

/** Envoy's local rate limit body. */
export const RATE_LIMITED_BODY = 'local_rate_limited';

/**
 * The headers of a 429 (draft-ietf-httpapi-ratelimit-headers-03, the version Envoy writes): `retry-after` and
 * `x-ratelimit-reset` are whole seconds until the refusing bucket holds a token (at least 1); `x-ratelimit-limit` is
 * that bucket's rate as `quota, quota;w=window` (`10, 10;w=1` for 10 requests per second; a fractional rate is given
 * over the smallest window that makes the quota whole, `1, 1;w=2` for 0.5/s); `x-ratelimit-remaining` is 0.
 */
export function rateLimitHeaders(refusal: RateLimitRefusal): HeaderPairs {
  const seconds = Number.isFinite(refusal.retryAfterMs) ? Math.max(1, Math.ceil(refusal.retryAfterMs / 1000 - 1e-9)) : 3600;
  const { quota, windowSeconds } = quotaOf(refusal.spec.requestsPerSecond);
  return [
    ['retry-after', String(seconds)],
    ['x-ratelimit-limit', `${quota}, ${quota};w=${windowSeconds}`],
    ['x-ratelimit-remaining', '0'],
    ['x-ratelimit-reset', String(seconds)],
  ];
}

/** A rate as a whole quota per whole-second window (the header's grammar has integers only). */
export function quotaOf(requestsPerSecond: number): { quota: number; windowSeconds: number } {
  for (let w = 1; w <= 3600; w++) {
    const q = requestsPerSecond * w;
    if (Math.abs(q - Math.round(q)) < 1e-6 && Math.round(q) >= 1) return { quota: Math.round(q), windowSeconds: w };
  }
  return { quota: Math.max(1, Math.round(requestsPerSecond * 3600)), windowSeconds: 3600 };
}
