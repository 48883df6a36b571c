/**
 * Time as Ambit's components see it, injected (STYLE rule 3) so backoff, retries, rotation and debouncing are testable
 * without waiting on the wall clock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

/** An opaque timer handle; only the clock that made it may clear it. */
export interface ClockTimer {
  readonly __clockTimer?: never;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as ClockTimer,
  clearTimeout: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
};
