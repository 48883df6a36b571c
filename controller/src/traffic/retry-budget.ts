import { DEFAULT_RETRY_BUDGET, type RetryBudget } from '@ambit/core/traffic';
import { parseIstioDurationMs } from './istio-duration.ts';

/**
 * The `ambit.dev/retry-budget` annotation on a Service (issue 14 §3): `retryRatio=0.2,minRetriesPerSecond=10,ttl=10s`,
 * any subset of the keys (the others keep DEFAULT_RETRY_BUDGET's values); `none` or `off` leave no budget at all
 * (ratio 0, floor 0: the waypoint sends no retry to the Service). A value that does not read leaves the default in
 * force and says why, for a warning (a Service has no status condition of ours).
 */
export type RetryBudgetAnnotation =
  { readonly budget: RetryBudget; readonly problem?: undefined } | { readonly budget?: undefined; readonly problem: string };

/** Bounds a budget must stay in to mean something (the waypoint's decoder refuses more). */
const MAX_RATIO = 1000;
const MAX_PER_SECOND = 2_147_483_647;
const MAX_TTL_MS = 2_147_483_647;
const KEYS = ['retryRatio', 'minRetriesPerSecond', 'ttl'] as const;

export function parseRetryBudget(text: string): RetryBudgetAnnotation {
  const value = text.trim();
  if (value === 'none' || value === 'off') return { budget: { ...DEFAULT_RETRY_BUDGET, retryRatio: 0, minRetriesPerSecond: 0 } };
  let budget: RetryBudget = DEFAULT_RETRY_BUDGET;
  const seen = new Set<string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const raw = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) {
      return { problem: `unknown key ${JSON.stringify(key)} (expected ${KEYS.join(', ')}, as key=value separated by commas, or none)` };
    }
    if (seen.has(key)) return { problem: `${key} is given twice` };
    seen.add(key);
    if (key === 'ttl') {
      const ms = parseIstioDurationMs(raw);
      if (ms === undefined || ms < 1 || ms > MAX_TTL_MS)
        return { problem: `ttl ${JSON.stringify(raw)} is not a positive duration (e.g. 10s)` };
      budget = { ...budget, ttlMs: ms };
      continue;
    }
    const n = /^[0-9]+(\.[0-9]+)?$/.test(raw) ? Number(raw) : Number.NaN;
    const max = key === 'retryRatio' ? MAX_RATIO : MAX_PER_SECOND;
    if (!Number.isFinite(n) || n > max) return { problem: `${key} ${JSON.stringify(raw)} is not a number from 0 to ${max}` };
    budget = key === 'retryRatio' ? { ...budget, retryRatio: n } : { ...budget, minRetriesPerSecond: n };
  }
  return { budget };
}
