/**
 * Exponential backoff with jitter for CA retries (reference istio-ambient.md §5: per identity, initial 500 ms, cap
 * 150 s, as ztunnel's `SecretManager` does). Jitter spreads the retries of many identities, and of many nodes after a
 * CA outage, so they do not reach the CA in lockstep.
 */
export interface BackoffOptions {
  /** Delay before the first retry; default 500 ms. */
  readonly initialMs?: number;
  /** No delay exceeds this, jitter included; default 150000 ms. */
  readonly maxMs?: number;
  /** Growth per failure; default 2. */
  readonly multiplier?: number;
  /** Each delay is drawn uniformly from ±`jitter` × the nominal delay; default 0.2 (0 disables jitter). */
  readonly jitter?: number;
  /** Uniform in [0, 1); default Math.random. Injected so tests can pin the sequence. */
  readonly random?: () => number;
}

export interface Backoff {
  /** The delay before retry number `failures` (1 after the first failure), jittered and capped. */
  delayMs(failures: number): number;
  /** The un-jittered delay, for logs and tests. */
  nominalMs(failures: number): number;
}

export const DEFAULT_BACKOFF_INITIAL_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 150_000;

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0 && maxMs >= initialMs && multiplier >= 1 && jitter >= 0 && jitter < 1)) {
    throw new RangeError(`backoff needs 0 < initialMs (${initialMs}) ≤ maxMs (${maxMs}), multiplier ≥ 1 (${multiplier}), 0 ≤ jitter < 1 (${jitter})`);
  }
  const nominalMs = (failures: number): number => {
    // Exponent clamped so a long outage cannot overflow to Infinity before the cap applies.
    const exponent = Math.min(Math.max(failures, 1) - 1, 64);
    return Math.min(initialMs * multiplier ** exponent, maxMs);
  };
  return {
    nominalMs,
    delayMs(failures) {
      const nominal = nominalMs(failures);
      const factor = 1 + jitter * (2 * random() - 1);
      return Math.round(Math.min(nominal * factor, maxMs));
    },
  };
}
