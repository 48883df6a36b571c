import type { ConnectionPool } from '@ambit/core/traffic';
import { WaypointError } from '../proxy/errors.ts';
import type { UpstreamProtocol } from '../proxy/upstream.ts';

/**
 * The circuit breakers of one upstream cluster (a backend Service port, or one subset of it), with Envoy's semantics
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking) for the DestinationRule
 * `connectionPool` fields:
 * - `http2MaxRequests` caps requests on the wire to the cluster, any protocol (Envoy's max_requests); over it → UO.
 * - `maxConnections` caps connections in use. An HTTP/1.1 connection carries one request at a time (no pipelining),
 *   so an h1 request on the wire holds one connection; an h2/gRPC endpoint has one multiplexed session, held while it
 *   has streams. A request that finds no connection free waits *pending* (FIFO) while the queue is below
 *   `http1MaxPendingRequests`, else → UO at once, without waiting. A pending request goes on the wire when a
 *   connection frees; one whose client leaves or whose deadline passes (its signal aborts) leaves the queue.
 *
 * The breaker is the only gate: connections that sit idle in a pool are not counted (Envoy counts them too, but
 * reuses them first, so under load both count the same connections), and the per-endpoint pools are sized so they
 * never hold more than the breaker lets through (upstream.ts `connections`).
 */
export interface CircuitBreaker {
  /**
   * Admits one request to `endpoint` (`ip:port`): a release function at once when it may go on the wire, a promise of
   * one when it waits pending (rejected with `signal`'s reason if that aborts first); throws UPSTREAM_OVERFLOW when
   * over a limit. Call the release function exactly once, when the request is off the wire.
   */
  admit(endpoint: string, protocol: UpstreamProtocol, signal: AbortSignal | undefined): (() => void) | Promise<() => void>;
  stats(): { readonly onWire: number; readonly connectionsInUse: number; readonly pending: number };
}

interface Waiter {
  readonly endpoint: string;
  readonly protocol: UpstreamProtocol;
  readonly resolve: (release: () => void) => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Istio sets a threshold only when its field is > 0 (pilot cluster_traffic_policy.go); 0 means unset: unlimited. */
const limit = (n: number | undefined): number | undefined => (n === undefined || !(n > 0) ? undefined : n);

export function createCircuitBreaker(pool: ConnectionPool, cluster: string): CircuitBreaker {
  const maxRequests = limit(pool.http2MaxRequests);
  const maxConnections = limit(pool.maxConnections);
  const maxPending = limit(pool.http1MaxPendingRequests);
  let onWire = 0;
  let h1Connections = 0;
  /** Endpoint → h2 streams on the wire: an entry is one session in use. */
  const h2Streams = new Map<string, number>();
  const queue: Waiter[] = [];

  const connectionsInUse = (): number => h1Connections + h2Streams.size;
  const hasConnection = (endpoint: string, protocol: UpstreamProtocol): boolean =>
    maxConnections === undefined || (protocol === 'h2' && h2Streams.has(endpoint)) || connectionsInUse() < maxConnections;

  const overflow = (what: string): WaypointError => new WaypointError('UPSTREAM_OVERFLOW', `upstream overflow: ${cluster} ${what}`);

  function take(endpoint: string, protocol: UpstreamProtocol): () => void {
    onWire += 1;
    if (protocol === 'h1') h1Connections += 1;
    else h2Streams.set(endpoint, (h2Streams.get(endpoint) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      onWire -= 1;
      if (protocol === 'h1') h1Connections -= 1;
      else {
        const n = (h2Streams.get(endpoint) ?? 1) - 1;
        if (n <= 0) h2Streams.delete(endpoint);
        else h2Streams.set(endpoint, n);
      }
      dispatch();
    };
  }

  /** Sends queued requests, oldest first, while connections are free for them (an h2 one may ride a busy session). */
  function dispatch(): void {
    for (let i = 0; i < queue.length;) {
      const w = queue[i] as Waiter;
      if (!hasConnection(w.endpoint, w.protocol)) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      w.signal?.removeEventListener('abort', w.onAbort);
      // max_requests is checked when a request is attached to a connection (Envoy's conn_pool_base), queued or not.
      if (maxRequests !== undefined && onWire >= maxRequests) w.reject(overflow(`has ${onWire} requests in flight (http2MaxRequests)`));
      else w.resolve(take(w.endpoint, w.protocol));
    }
  }

  return {
    admit(endpoint, protocol, signal) {
      if (hasConnection(endpoint, protocol)) {
        if (maxRequests !== undefined && onWire >= maxRequests) throw overflow(`has ${onWire} requests in flight (http2MaxRequests)`);
        return take(endpoint, protocol);
      }
      if (maxPending !== undefined && queue.length >= maxPending) {
        throw overflow(`has ${connectionsInUse()} connections busy and ${queue.length} requests pending (http1MaxPendingRequests)`);
      }
      if (signal?.aborted === true) throw signal.reason;
      return new Promise<() => void>((resolve, reject) => {
        const waiter: Waiter = {
          endpoint,
          protocol,
          resolve,
          reject,
          signal,
          onAbort: () => {
            const i = queue.indexOf(waiter);
            if (i >= 0) queue.splice(i, 1);
            reject(signal?.reason);
          },
        };
        queue.push(waiter);
        signal?.addEventListener('abort', waiter.onAbort, { once: true });
      });
    },
    stats: () => ({ onWire, connectionsInUse: connectionsInUse(), pending: queue.length }),
  };
}
