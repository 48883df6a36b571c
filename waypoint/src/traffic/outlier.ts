import type { Clock, ClockTimer } from '@ambit/core';
import type { OutlierDetection } from '@ambit/core/traffic';

/** Envoy's default `max_ejection_time` (Istio does not set it): an ejection never lasts longer than this (or base). */
export const MAX_EJECTION_TIME_MS = 300_000;

/**
 * Passive health checking of one upstream cluster's endpoints, as Envoy's outlier detector
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier), for the DestinationRule fields:
 * - Each answer counts per endpoint: any 5xx adds to the consecutive-5xx count, 502/503/504 also to the
 *   consecutive-gateway-error count; any other status resets both. Errors the waypoint sees itself (connect failure,
 *   reset: reported as 503; timeout: 504) count the same, as Envoy does without split_external_local_origin_errors.
 * - Reaching `consecutive5xxErrors` or `consecutiveGatewayErrors` (0 = off) ejects the endpoint at once, unless
 *   (Envoy's ejectHost) the ejections would then exceed `maxEjectionPercent` of the endpoints — at least one ejection
 *   is always allowed — or detection is off because fewer than `minHealthPercent` of them are healthy.
 * - An ejection lasts `baseEjectionTime` × the endpoint's ejection multiplier, capped at max(base, 300 s). The
 *   multiplier grows by one per ejection and shrinks by one for every interval the endpoint spends un-ejected (Envoy
 *   ≥ 1.17), so a host that keeps failing stays out longer and one that recovers is forgiven gradually.
 * - One timer per detector, every `interval`, runs only while an endpoint is ejected or has a multiplier to shrink; it
 *   returns the endpoints whose time is up (so a return happens at the first sweep after its time). Unref'd.
 */
export interface OutlierDetector {
  /** The endpoints (`ip:port`) of the cluster now; the state of the others is dropped (an ejected one is reported returned). */
  setHosts(keys: readonly string[]): void;
  isEjected(key: string): boolean;
  /**
   * Istio's `minHealthPercent` is Envoy's healthy panic threshold: while fewer than this percentage of the endpoints
   * are un-ejected, ejections are ignored for load balancing (and no more are made). 0 (Istio's default) disables it:
   * when every endpoint is ejected, there is no healthy upstream (503 UH), as in Envoy.
   */
  inPanic(): boolean;
  /** One answer from `key`: an HTTP status, or 503/504 for a local connect failure / reset / timeout. */
  report(key: string, status: number): void;
  ejectedCount(): number;
  /** Stops the timer; endpoints still ejected are reported returned. */
  close(): void;
}

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejectedAtMs: number | undefined;
  /** Envoy's eject_time_backoff: the multiplier of the next ejection's duration. */
  multiplier: number;
}

export function createOutlierDetector(
  policy: OutlierDetection,
  clock: Clock,
  onEvent: (key: string, event: 'ejected' | 'returned') => void,
): OutlierDetector {
  const hosts = new Map<string, HostState>();
  let ejected = 0;
  let timer: ClockTimer | undefined;
  let closed = false;
  const baseMs = policy.baseEjectionTimeMs;
  const maxMs = Math.max(baseMs, MAX_EJECTION_TIME_MS);

  const healthyPercent = (): number => (hosts.size === 0 ? 100 : (100 * (hosts.size - ejected)) / hosts.size);
  const inPanic = (): boolean => healthyPercent() < policy.minHealthPercent;

  function schedule(): void {
    if (timer !== undefined || closed) return;
    timer = clock.setTimeout(sweep, Math.max(1, policy.intervalMs));
    // A Node timer must not keep the process alive (the system clock's handle is a Node Timeout).
    (timer as { unref?: () => void }).unref?.();
  }

  function sweep(): void {
    timer = undefined;
    const now = clock.now();
    let more = false;
    for (const [key, h] of hosts) {
      if (h.ejectedAtMs === undefined) {
        if (h.multiplier > 0) h.multiplier -= 1;
      } else if (now - h.ejectedAtMs >= Math.min(baseMs * h.multiplier, maxMs)) {
        h.ejectedAtMs = undefined;
        ejected -= 1;
        onEvent(key, 'returned');
      }
      if (h.ejectedAtMs !== undefined || h.multiplier > 0) more = true;
    }
    if (more) schedule();
  }

  function eject(key: string, h: HostState): void {
    if (inPanic()) return;
    // Envoy's ejectHost: allowed while (ejected + 1) / hosts stays within the percentage, or when none is ejected yet.
    const percentAfter = (100 * (ejected + 1)) / hosts.size;
    if (percentAfter > policy.maxEjectionPercent && ejected > 0) return;
    h.ejectedAtMs = clock.now();
    if (baseMs * h.multiplier < maxMs + baseMs) h.multiplier += 1;
    ejected += 1;
    onEvent(key, 'ejected');
    schedule();
  }

  return {
    setHosts(keys) {
      const keep = new Set(keys);
      for (const [key, h] of hosts) {
        if (keep.has(key)) continue;
        hosts.delete(key);
        if (h.ejectedAtMs !== undefined) {
          ejected -= 1;
          onEvent(key, 'returned');
        }
      }
      for (const key of keys) {
        if (!hosts.has(key)) hosts.set(key, { consecutive5xx: 0, consecutiveGateway: 0, ejectedAtMs: undefined, multiplier: 0 });
      }
    },
    isEjected: (key) => hosts.get(key)?.ejectedAtMs !== undefined,
    inPanic,
    report(key, status) {
      const h = hosts.get(key);
      // An answer from an endpoint that has left the cluster, or one already ejected (a request sent before), changes nothing.
      if (h === undefined || h.ejectedAtMs !== undefined) return;
      if (status < 500 || status > 599) {
        h.consecutive5xx = 0;
        h.consecutiveGateway = 0;
        return;
      }
      h.consecutive5xx += 1;
      if (status === 502 || status === 503 || status === 504) h.consecutiveGateway += 1;
      else h.consecutiveGateway = 0;
      const by5xx = policy.consecutive5xxErrors > 0 && h.consecutive5xx >= policy.consecutive5xxErrors;
      const byGateway = policy.consecutiveGatewayErrors > 0 && h.consecutiveGateway >= policy.consecutiveGatewayErrors;
      if (!by5xx && !byGateway) return;
      // Envoy resets a host's consecutive counts when they trip, whether or not the ejection is allowed.
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      eject(key, h);
    },
    ejectedCount: () => ejected,
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      // The cluster is replaced (policy changed) or gone: its ejections end with it, and the gauge must say so.
      for (const [key, h] of hosts) if (h.ejectedAtMs !== undefined) onEvent(key, 'returned');
      hosts.clear();
      ejected = 0;
    },
  };
}
