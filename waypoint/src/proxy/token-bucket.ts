import type { TokenBucket as TokenBucketSpec } from '@ambit/core/traffic';

/**
 * A token bucket's state (contract 2 `TokenBucket`): tokens refill continuously at `requestsPerSecond` up to `burst`;
 * a request takes one. Refill is computed lazily from the elapsed time when the bucket is read, so a bucket costs no
 * timer. The spec is passed in on every call rather than held, so a config push that changes the limit applies to
 * the tokens already there (capped at the new burst) instead of refilling the bucket.
 */
export class BucketState {
  #tokens: number;
  #atMs: number;

  /** A bucket starts full. */
  constructor(spec: TokenBucketSpec, nowMs: number) {
    this.#tokens = spec.burst;
    this.#atMs = nowMs;
  }

  /** Tokens held at `nowMs` (fractional). */
  tokens(spec: TokenBucketSpec, nowMs: number): number {
    // A clock that stepped back (wall time) refills nothing rather than draining the bucket.
    const elapsedMs = Math.max(0, nowMs - this.#atMs);
    this.#tokens = Math.min(spec.burst, this.#tokens + (elapsedMs * spec.requestsPerSecond) / 1000);
    this.#atMs = Math.max(this.#atMs, nowMs);
    return this.#tokens;
  }

  /** Whether a token is there at `nowMs` (without taking it). */
  hasToken(spec: TokenBucketSpec, nowMs: number): boolean {
    // The epsilon absorbs float error in the refill sum, so 10 × 0.1 tokens count as one.
    return this.tokens(spec, nowMs) >= 1 - 1e-9;
  }

  /** Takes one token; call only after `hasToken` said yes at the same time. */
  take(): void {
    this.#tokens = Math.max(0, this.#tokens - 1);
  }

  /** Milliseconds until the bucket holds a whole token (0 when it does now). */
  msUntilToken(spec: TokenBucketSpec, nowMs: number): number {
    const missing = 1 - this.tokens(spec, nowMs);
    if (missing <= 1e-9) return 0;
    if (spec.requestsPerSecond <= 0) return Number.POSITIVE_INFINITY;
    return (missing * 1000) / spec.requestsPerSecond;
  }

  /** A full bucket is indistinguishable from a new one: it may be dropped and re-created at no cost to fairness. */
  isFull(spec: TokenBucketSpec, nowMs: number): boolean {
    return this.tokens(spec, nowMs) >= spec.burst - 1e-9;
  }
}

export const sameBucket = (a: TokenBucketSpec | undefined, b: TokenBucketSpec | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.requestsPerSecond === b.requestsPerSecond && a.burst === b.burst);
