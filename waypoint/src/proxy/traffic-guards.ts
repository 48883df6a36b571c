import { systemClock, type Clock, type Service } from '@ambit/core';
import { DEFAULT_RETRY_BUDGET, serviceTrafficKey, type RateLimit } from '@ambit/core/traffic';
import type { Exchange } from './exchange.ts';
import type { HeaderPairs } from './headers.ts';
import type { WaypointState, WaypointTelemetry } from './proxy-inputs.ts';
import { createRateLimiter, type RateLimiter, type RateLimitRefusal } from './rate-limit.ts';
import { createRetryBudgets, type RetryBudgets } from './retry-budget.ts';

/**
 * The waypoint's per-replica protection state, shared by every tunnel and kept across config pushes (the limits
 * themselves are read from the ServiceTraffic of the moment): rate-limit buckets, retry budgets, and the random
 * source of fault draws (injectable, so tests can decide the draws).
 */
export interface TrafficGuards {
  readonly rateLimiter: RateLimiter;
  readonly retryBudgets: RetryBudgets;
  /** Uniform in [0, 1): fault injection draws. */
  readonly random: () => number;
}

export function createTrafficGuards(options: { readonly clock?: Pick<Clock, 'now'>; readonly random?: () => number } = {}): TrafficGuards {
  const clock = options.clock ?? systemClock;
  return {
    rateLimiter: createRateLimiter({ clock }),
    retryBudgets: createRetryBudgets({ clock }),
    random: options.random ?? Math.random,
  };
}

/**
 * Stage (3) of the request path: the rate limits of the addressed Service and, when the route chose another, of the
 * backend Service, checked and charged together. Returns the refusal (→ 429 RL) or undefined.
 */
export function checkRateLimits(
  guards: TrafficGuards,
  state: WaypointState,
  addressed: Service | undefined,
  backend: Service | undefined,
  identity: string,
): RateLimitRefusal | undefined {
  const limits: Array<{ service: string; limit: RateLimit }> = [];
  for (const s of backend === undefined || backend === addressed ? [addressed] : [addressed, backend]) {
    if (s === undefined) continue;
    const limit = state.trafficFor(s)?.rateLimit;
    if (limit !== undefined) limits.push({ service: serviceTrafficKey(s), limit });
  }
  // Two distinct Service objects may still be one Service (a later config generation): charge it once.
  if (limits.length === 2 && limits[0]?.service === limits[1]?.service) limits.pop();
  return limits.length === 0 ? undefined : guards.rateLimiter.admit(limits, identity);
}

/** The retry gate of one request to `service`: the budget gets the request's deposit at once. */
export interface RetryGate {
  /** A retry would go out now: true (counted `sent`) if the budget allows, else false (counted `budget_exhausted`). */
  allow(): boolean;
}

/** Requests to a pod addressed by IP (no Service) share one budget. */
const NO_SERVICE = '(no service)';

/** Opens the retry budget of the backend Service (its ServiceTraffic's, else DEFAULT_RETRY_BUDGET) for one request. */
export function openRetryGate(
  guards: TrafficGuards,
  state: WaypointState,
  telemetry: WaypointTelemetry,
  service: Service | undefined,
): RetryGate {
  const budget = (service === undefined ? undefined : state.trafficFor(service)?.retryBudget) ?? DEFAULT_RETRY_BUDGET;
  const ring = guards.retryBudgets.forService(service === undefined ? NO_SERVICE : serviceTrafficKey(service), budget);
  ring.deposit();
  return {
    allow() {
      const ok = ring.withdraw();
      telemetry.retry(service, ok ? 'sent' : 'budget_exhausted');
      return ok;
    },
  };
}

/**
 * Answers locally (rate limit, fault abort): the head, then the text body if any. Returns the body bytes sent. A
 * reply without a body ends the stream with its head (a gRPC trailers-only response).
 */
export function sendLocalReply(ex: Exchange, status: number, headers: HeaderPairs, body: string | undefined): number {
  if (body === undefined) {
    ex.respond(status, headers, true);
    return 0;
  }
  const bytes = Buffer.from(`${body}\n`);
  ex.respond(status, [...headers, ['content-type', 'text/plain'], ['content-length', String(bytes.length)]], false);
  ex.out.write(bytes);
  ex.finish(undefined);
  return bytes.length;
}
