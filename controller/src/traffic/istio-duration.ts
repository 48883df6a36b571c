/**
 * Istio API durations (`interval: 10s`, `baseEjectionTime: 1m30s`, `idleTimeout: 1.5s`): Go's time.ParseDuration
 * syntax, which Istio's CRDs accept — one or more `<decimal><unit>` groups, units ns, us (µs), ms, s, m, h, no sign.
 * Unlike Gateway API durations (../routes/duration.ts, GEP-2257) fractions are allowed.
 */
const DURATION = /^(?:[0-9]+(?:\.[0-9]*)?(?:ns|us|µs|ms|s|m|h)|\.[0-9]+(?:ns|us|µs|ms|s|m|h))+$/;
const PART = /([0-9]*\.?[0-9]*)(ns|us|µs|ms|s|m|h)/g;
const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds (rounded to the nearest, as a timer can hold no less), or undefined when `text` is not a duration. */
export function parseIstioDurationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return Number.isFinite(total) ? Math.round(total) : undefined;
}
