import type { Endpoint } from './proxy-inputs.ts';

/** `ip:port` of an endpoint: the key of its in-flight count and of its upstream pools. */
export function endpointKey(e: Endpoint): string {
  return `${e.workload.addresses[0] ?? ''}:${e.port}`;
}

/**
 * Least-request load balancing with the power of two choices (Envoy's LEAST_REQUEST default, choice_count 2, which
 * Istio uses by default): two endpoints drawn at random, the one with fewer requests in flight wins. In-flight counts
 * are per waypoint, shared by every connection.
 */
export interface Balancer {
  /** An endpoint, avoiding `exclude` (keys of endpoints already tried) while others remain; undefined when none. */
  pick(endpoints: readonly Endpoint[], exclude?: ReadonlySet<string>): Endpoint | undefined;
  /** Counts a request in flight to `key` until the returned function is called. */
  begin(key: string): () => void;
}

export function createBalancer(random: () => number = Math.random): Balancer {
  const inFlight = new Map<string, number>();
  const load = (e: Endpoint): number => inFlight.get(endpointKey(e)) ?? 0;
  return {
    pick(all, exclude) {
      let endpoints = all;
      if (exclude !== undefined && exclude.size > 0 && all.length > 1) {
        const rest = all.filter((e) => !exclude.has(endpointKey(e)));
        if (rest.length > 0) endpoints = rest;
      }
      if (endpoints.length <= 1) return endpoints[0];
      const i = Math.floor(random() * endpoints.length);
      let j = Math.floor(random() * (endpoints.length - 1));
      // Two distinct draws: the second index skips over the first.
      if (j >= i) j += 1;
      const a = endpoints[i] as Endpoint;
      const b = endpoints[j] as Endpoint;
      return load(b) < load(a) ? b : a;
    },
    begin(key) {
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const n = (inFlight.get(key) ?? 1) - 1;
        if (n <= 0) inFlight.delete(key);
        else inFlight.set(key, n);
      };
    },
  };
}
