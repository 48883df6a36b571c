/**
 * The one retry backoff of Ambit: capped exponential growth with a choice of jitter. Every retry loop (xDS reconnect,
 * CA fetches, informer restarts, pod enrolment, local controllers and container restarts) takes its delays from here;
 * waiting is the caller's, on its injected Clock (./clock.ts), so tests drive time by hand.
 */

/**
 * How a delay is drawn from its nominal value n (then capped at `maxMs`):
 * - `'none'`: n itself (kubelet's CrashLoopBackOff, client-go's work-queue rate limiter);
 * - `'full'`: uniform in [0, n] — the widest spread ("full jitter"), when many clients retry against one server and
 *   an occasional quick retry is harmless;
 * - `'equal'`: uniform in [n/2, n] — spread, yet no retry waits less than half of n;
 * - a number f in [0, 1): uniform in [n(1 − f), n(1 + f)] (ztunnel's CA retries: ±20 %).
 */
export type BackoffJitter = 'none' | 'full' | 'equal' | number;

export interface BackoffOptions {
  /** Nominal delay before the first retry, ms; default 100. */
  readonly initialMs?: number;
  /** No delay exceeds this, jitter included, ms; default 10 000. */
  readonly maxMs?: number;
  /** Growth of the nominal delay per consecutive failure, a factor ≥ 1; default 2. */
  readonly multiplier?: number;
  /** Default `'equal'`. */
  readonly jitter?: BackoffJitter;
  /** Uniform in [0, 1); default Math.random. Injected so tests can pin the sequence. */
  readonly random?: () => number;
}

export interface Backoff {
  /** The delay before the retry after `failures` consecutive failures (1 after the first), ms, jittered and capped. */
  delayMs(failures: number): number;
  /** The un-jittered delay, for logs and tests, ms. */
  nominalMs(failures: number): number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 10_000;

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 'equal';
  const random = options.random ?? Math.random;
  if (!(initialMs > 0 && maxMs >= initialMs && multiplier >= 1)) {
    throw new RangeError(`backoff needs 0 < initialMs (${initialMs}) ≤ maxMs (${maxMs}) and multiplier ≥ 1 (${multiplier})`);
  }
  if (typeof jitter === 'number' && !(jitter >= 0 && jitter < 1)) throw new RangeError(`backoff jitter must be in [0, 1), got ${jitter}`);
  const nominalMs = (failures: number): number => {
    // Exponent clamped so a long outage cannot overflow to Infinity before the cap applies.
    const exponent = Math.min(Math.max(failures, 1) - 1, 64);
    return Math.min(initialMs * multiplier ** exponent, maxMs);
  };
  const draw = (n: number): number => {
    if (jitter === 'none') return n;
    if (jitter === 'full') return random() * n;
    if (jitter === 'equal') return n / 2 + random() * (n / 2);
    return n * (1 + jitter * (2 * random() - 1));
  };
  return {
    nominalMs,
    delayMs: (failures) => Math.round(Math.min(draw(nominalMs(failures)), maxMs)),
  };
}
