/**
 * Gateway API durations (GEP-2257, https://gateway-api.sigs.k8s.io/geps/gep-2257/): one to four `<1–5 digits><unit>`
 * groups with units `h`, `m`, `s`, `ms`, summed as Go's time.ParseDuration does (`1m30s`, `500ms`, `1h`). Fractions,
 * signs, spaces and other units (`us`, `d`) are not Gateway API durations.
 */
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const PART = /([0-9]{1,5})(ms|h|m|s)/g;
const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds, or undefined when `text` is not a GEP-2257 duration. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return total;
}
