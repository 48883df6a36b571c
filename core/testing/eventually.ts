import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Retries `fn` until it returns without throwing, or rethrows its last error after `timeoutMs` (STYLE rule 19:
 * wait for a condition, never a fixed sleep). Returns what `fn` returned.
 */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(intervalMs);
  }
}
