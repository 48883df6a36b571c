import { percentile } from '../l4/load.ts';
import { PHASES, type Hops } from './hops.ts';

/** A pause of a process (a GC), wall clock in µs. */
export interface Pause {
  readonly start: number;
  readonly end: number;
}

export interface PhaseFigure {
  readonly phase: string;
  /** Median over every request, µs. */
  readonly medianAll: number;
  /** p99 over every request, µs. */
  readonly p99All: number;
  /** Mean over the slowest 1 % (by total), µs. */
  readonly meanSlow: number;
  /** Share of the slow requests whose largest excess over the phase medians is this phase. */
  readonly blamed: number;
}

export interface Breakdown {
  readonly requests: number;
  readonly slow: number;
  /** Total (client lo request → client lo response), µs: p50, p90, p99 over every request. */
  readonly total: { readonly p50: number; readonly p90: number; readonly p99: number };
  readonly phases: readonly PhaseFigure[];
  /** Share of all requests, and of the slowest 1 %, that a GC pause of a proxy overlapped (undefined: no GC data). */
  readonly gcOverlapAll: number | undefined;
  readonly gcOverlapSlow: number | undefined;
}

function overlaps(pauses: readonly Pause[], from: number, to: number): boolean {
  // Pauses are few (about one a second): a linear scan over the sorted list, stopping past `to`, is cheap enough.
  for (const p of pauses) {
    if (p.start > to) return false;
    if (p.end >= from) return true;
  }
  return false;
}

/**
 * Where the time of the slowest 1 % goes: each phase's median over all requests beside its mean over the slow ones, and
 * for each slow request the phase that exceeds its own median the most ("blamed"). With `pauses` (per proxy: the
 * client's pauses matter in its two phases, the server's in its two), the share of requests a pause overlapped.
 */
export function breakdown(
  hops: readonly Hops[],
  pauses?: { readonly client: readonly Pause[]; readonly server: readonly Pause[] },
): Breakdown {
  const total = (h: Hops): number => (h[11] ?? 0) - (h[0] ?? 0);
  const phase = (h: Hops, i: number): number => {
    const [, a, b] = PHASES[i] ?? ['', 0, 0];
    return (h[b] ?? 0) - (h[a] ?? 0);
  };
  const sortedTotals = hops.map(total).sort((a, b) => a - b);
  const cut = percentile(sortedTotals, 99);
  const slow = hops.filter((h) => total(h) >= cut);
  const sortedPhases = PHASES.map((_, i) => hops.map((h) => phase(h, i)).sort((a, b) => a - b));
  const medians = sortedPhases.map((xs) => percentile(xs, 50));
  const blamed = PHASES.map(() => 0);
  for (const h of slow) {
    let worst = 0;
    for (let i = 1; i < PHASES.length; i++) if (phase(h, i) - (medians[i] ?? 0) > phase(h, worst) - (medians[worst] ?? 0)) worst = i;
    blamed[worst] = (blamed[worst] ?? 0) + 1;
  }
  const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  const phases = PHASES.map(([name], i) => ({
    phase: name,
    medianAll: medians[i] ?? NaN,
    p99All: percentile(sortedPhases[i] ?? [], 99),
    meanSlow: mean(slow.map((h) => phase(h, i))),
    blamed: slow.length === 0 ? 0 : (blamed[i] ?? 0) / slow.length,
  }));
  let gcOverlapAll: number | undefined;
  let gcOverlapSlow: number | undefined;
  if (pauses !== undefined) {
    const client = [...pauses.client].sort((a, b) => a.start - b.start);
    const server = [...pauses.server].sort((a, b) => a.start - b.start);
    // The client proxy handles a request between hops 0–1 and 10–11, the server proxy between 4–5 and 6–7.
    const hit = (h: Hops): boolean =>
      overlaps(client, h[0] ?? 0, h[1] ?? 0) ||
      overlaps(client, h[10] ?? 0, h[11] ?? 0) ||
      overlaps(server, h[4] ?? 0, h[5] ?? 0) ||
      overlaps(server, h[6] ?? 0, h[7] ?? 0);
    gcOverlapAll = hops.length === 0 ? NaN : hops.filter(hit).length / hops.length;
    gcOverlapSlow = slow.length === 0 ? NaN : slow.filter(hit).length / slow.length;
  }
  return {
    requests: hops.length,
    slow: slow.length,
    total: { p50: percentile(sortedTotals, 50), p90: percentile(sortedTotals, 90), p99: cut },
    phases,
    gcOverlapAll,
    gcOverlapSlow,
  };
}
