/** Reconnect backoff of the xDS client. Defaults: first retry after ~100 ms, capped at 10 s. */
export interface BackoffOptions {
  /** Base delay of the first retry, ms; default 100. */
  readonly initialMs: number;
  /** Cap of the base delay, ms; default 10 000. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };

/**
 * Delay before retry number `attempt` (0 = first retry): the base doubles per attempt up to `maxMs`, and the delay is
 * drawn uniformly from [base/2, base] ("equal jitter") so a fleet of proxies that lost the controller at the same
 * moment does not come back in lock-step, while no retry waits less than half the base.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + random() * (base / 2));
}
