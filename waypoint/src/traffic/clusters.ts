import { systemClock, type Clock, type Service } from '@ambit/core';
import { serviceTrafficKey, type ServiceTraffic } from '@ambit/core/traffic';
import type { WaypointState, WaypointTelemetry } from '../proxy/proxy-inputs.ts';
import { hasEndpointPolicy, policyIdentity } from './policy.ts';
import { createUpstreamCluster, type UpstreamCluster } from './upstream-cluster.ts';

/**
 * The upstream clusters of the Services that have a DestinationRule traffic policy, one per backend Service port (as
 * Envoy's clusters), kept across config pushes: a push that leaves a Service's policy as it was (the usual case: an
 * unrelated change, or only its subsets' members changed) keeps its cluster and its state; a changed policy replaces
 * the cluster; a Service that lost its policy (or is gone) loses it at the next generation's sweep.
 */
export interface TrafficClusters {
  /** The cluster for requests to `service:port`; undefined when no policy applies (the default path: P2C, no limits). */
  forBackend(service: Service, port: number): UpstreamCluster | undefined;
  /** For the listener's stats: clusters held, requests pending in their breakers, endpoints ejected. */
  stats(): { readonly upstreamClusters: number; readonly pendingRequests: number; readonly ejectedEndpoints: number };
  close(): void;
}

interface Entry {
  identity: string;
  /** Set when the entry is replaced or swept: a ServiceTraffic still mapped to it must be admitted again. */
  closed: boolean;
  traffic: ServiceTraffic;
  readonly ports: Map<number, UpstreamCluster>;
}

export function createTrafficClusters(
  state: WaypointState,
  telemetry: Pick<WaypointTelemetry, 'outlier'>,
  opts: { readonly clock?: Clock; readonly random?: () => number } = {},
): TrafficClusters {
  const clock = opts.clock ?? systemClock;
  const entries = new Map<string, Entry>();
  /** ServiceTraffic object → its entry (or null: no endpoint policy), so the per-request look-up builds no key. */
  let seen = new WeakMap<ServiceTraffic, Entry | null>();
  let sweptGen = state.generation();

  function closeEntry(e: Entry): void {
    e.closed = true;
    for (const c of e.ports.values()) c.close();
    e.ports.clear();
  }

  /** Drops the clusters of Services whose policy is gone (once per config generation, off the per-request path). */
  function sweep(): void {
    sweptGen = state.generation();
    for (const [key, e] of entries) {
      const svc = state.serviceByHostname(e.traffic.service.namespace, e.traffic.service.hostname);
      const t = svc === undefined ? undefined : state.trafficFor(svc);
      if (t === undefined || !hasEndpointPolicy(t)) {
        closeEntry(e);
        entries.delete(key);
      }
    }
  }

  /** A ServiceTraffic not seen before: keep the Service's entry when its policy is the same, else start afresh. */
  function admit(service: Service, t: ServiceTraffic): Entry | null {
    if (!hasEndpointPolicy(t)) {
      seen.set(t, null);
      return null;
    }
    const key = serviceTrafficKey(service);
    const identity = policyIdentity(t);
    let e = entries.get(key);
    if (e !== undefined && e.identity === identity) {
      e.traffic = t;
      for (const c of e.ports.values()) c.update(service, t);
    } else {
      if (e !== undefined) closeEntry(e);
      e = { identity, closed: false, traffic: t, ports: new Map() };
      entries.set(key, e);
    }
    seen.set(t, e);
    return e;
  }

  return {
    forBackend(service, port) {
      if (state.generation() !== sweptGen) sweep();
      const t = state.trafficFor(service);
      if (t === undefined) return undefined;
      let e = seen.get(t);
      if (e === undefined || e?.closed === true) e = admit(service, t);
      if (e === null) return undefined;
      let c = e.ports.get(port);
      if (c === undefined) {
        c = createUpstreamCluster({
          service,
          port,
          traffic: t,
          clock,
          onOutlier: (s, endpoint, event) => telemetry.outlier(s, endpoint, event),
          ...(opts.random === undefined ? {} : { random: opts.random }),
        });
        e.ports.set(port, c);
      }
      return c;
    },
    stats() {
      let upstreamClusters = 0;
      let pendingRequests = 0;
      let ejectedEndpoints = 0;
      for (const e of entries.values()) {
        for (const c of e.ports.values()) {
          const s = c.stats();
          upstreamClusters += 1;
          pendingRequests += s.pending;
          ejectedEndpoints += s.ejected;
        }
      }
      return { upstreamClusters, pendingRequests, ejectedEndpoints };
    },
    close() {
      for (const e of entries.values()) closeEntry(e);
      entries.clear();
      seen = new WeakMap();
    },
  };
}
