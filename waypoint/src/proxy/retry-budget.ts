import { systemClock, type Clock } from '@ambit/core';
import type { RetryBudget } from '@ambit/core/traffic';

/**
 * Linkerd's retry budget (https://linkerd.io/2/reference/service-profiles/#retry-budget), per backend Service, per
 * waypoint replica. Each original request deposits `retryRatio` tokens that expire after `ttlMs`; a floor bucket
 * refills `minRetriesPerSecond` tokens per second up to one second's worth (it starts full). A retry is allowed when
 * the unexpired deposits not yet charged hold a whole token (charged to the oldest deposits first, so a charge never
 * outlives the deposit it used), else when the floor bucket holds one. So over any run the retries sent are at most
 * `retryRatio` × the requests plus `minRetriesPerSecond` × (seconds + 1): against a backend that fails everything,
 * `retry.attempts: 3` costs it about 1.2 ×, not 4 ×, the requests.
 *
 * Deposits sit in a ring of time slots (100 ms, or ttl/600 for long ttls), so memory per Service is fixed and there is
 * no timer per request; slots are expired lazily when the budget is touched.
 */
export interface RetryBudgetState {
  /** An original request (its first try) to the Service. */
  deposit(): void;
  /** A retry wants to go out: true (and charged) when the budget allows it. */
  withdraw(): boolean;
  /** Tokens available now (deposits not yet charged, plus the floor), for tests and dumps. */
  balance(): number;
}

export interface RetryBudgets {
  /** The budget of Service `key` (`namespace/hostname`), kept across calls while `budget` keeps its ttl. */
  forService(key: string, budget: RetryBudget): RetryBudgetState;
  /** Services with a budget held. */
  size(): number;
}

/** The number of slots a ring holds at most: ttls past 60 s get coarser slots rather than more memory. */
const MAX_SLOTS = 600;
const SLOT_MS = 100;

class Ring implements RetryBudgetState {
  readonly slotMs: number;
  /** Per slot: tokens deposited and tokens charged against them. */
  readonly #deposited: Float64Array;
  readonly #charged: Float64Array;
  /** Index (absolute slot number = floor(now / slotMs)) of the newest slot written. */
  #head: number;
  #floorTokens: number;
  #floorAtMs: number;
  lastUsedMs: number;

  constructor(
    public budget: RetryBudget,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    const slots = Math.min(MAX_SLOTS, Math.max(1, Math.ceil(budget.ttlMs / SLOT_MS)));
    this.slotMs = Math.max(1, budget.ttlMs / slots);
    this.#deposited = new Float64Array(slots);
    this.#charged = new Float64Array(slots);
    const now = clock.now();
    this.#head = Math.floor(now / this.slotMs);
    this.#floorTokens = budget.minRetriesPerSecond;
    this.#floorAtMs = now;
    this.lastUsedMs = now;
  }

  /** Clears the slots that expired since the last call; returns the current slot's index in the ring. */
  #advance(nowMs: number): number {
    const n = this.#deposited.length;
    const slot = Math.floor(nowMs / this.slotMs);
    // A clock that stepped back keeps writing into the newest slot.
    if (slot > this.#head) {
      for (let s = this.#head + 1, cleared = 0; s <= slot && cleared < n; s++, cleared++) {
        this.#deposited[s % n] = 0;
        this.#charged[s % n] = 0;
      }
      this.#head = slot;
    }
    this.lastUsedMs = nowMs;
    return this.#head % n;
  }

  #refillFloor(nowMs: number): void {
    const { minRetriesPerSecond } = this.budget;
    const elapsedMs = Math.max(0, nowMs - this.#floorAtMs);
    this.#floorTokens = Math.min(minRetriesPerSecond, this.#floorTokens + (elapsedMs * minRetriesPerSecond) / 1000);
    this.#floorAtMs = Math.max(this.#floorAtMs, nowMs);
  }

  #available(): number {
    let sum = 0;
    for (let i = 0; i < this.#deposited.length; i++) sum += (this.#deposited[i] as number) - (this.#charged[i] as number);
    return sum;
  }

  deposit(): void {
    const i = this.#advance(this.clock.now());
    this.#deposited[i] = (this.#deposited[i] as number) + this.budget.retryRatio;
  }

  withdraw(): boolean {
    const nowMs = this.clock.now();
    const head = this.#advance(nowMs);
    // The epsilon absorbs float error: five deposits of 0.2 make one token.
    if (this.#available() >= 1 - 1e-9) {
      // Oldest first: those deposits expire soonest.
      const n = this.#deposited.length;
      let owed = 1;
      for (let k = 1; k <= n && owed > 1e-12; k++) {
        const i = (head + k) % n;
        const free = (this.#deposited[i] as number) - (this.#charged[i] as number);
        if (free <= 0) continue;
        const take = Math.min(free, owed);
        this.#charged[i] = (this.#charged[i] as number) + take;
        owed -= take;
      }
      return true;
    }
    this.#refillFloor(nowMs);
    if (this.#floorTokens >= 1 - 1e-9) {
      this.#floorTokens = Math.max(0, this.#floorTokens - 1);
      return true;
    }
    return false;
  }

  balance(): number {
    const nowMs = this.clock.now();
    this.#advance(nowMs);
    this.#refillFloor(nowMs);
    return this.#available() + this.#floorTokens;
  }
}

export function createRetryBudgets(options: { readonly clock?: Pick<Clock, 'now'>; readonly maxIdleMs?: number } = {}): RetryBudgets {
  const clock = options.clock ?? systemClock;
  const budgets = new Map<string, Ring>();
  let lastSweepMs = clock.now();

  /**
   * Drops budgets untouched for longer than their ttl plus a second: all their deposits have expired and their floor
   * has refilled, so a new ring would be the same. Bounds the map by the Services in use, whatever the history.
   */
  function sweep(nowMs: number): void {
    lastSweepMs = nowMs;
    for (const [key, ring] of budgets) {
      if (nowMs - ring.lastUsedMs > (options.maxIdleMs ?? ring.budget.ttlMs + 1_000)) budgets.delete(key);
    }
  }

  return {
    forService(key, budget) {
      const nowMs = clock.now();
      if (nowMs - lastSweepMs > 10_000) sweep(nowMs);
      let ring = budgets.get(key);
      if (ring === undefined || ring.budget.ttlMs !== budget.ttlMs) {
        budgets.set(key, (ring = new Ring(budget, clock)));
      } else if (ring.budget !== budget) {
        // Same window: keep the deposits, apply the new ratio and floor from now on.
        ring.budget = budget;
      }
      return ring;
    },
    size: () => budgets.size,
  };
}
