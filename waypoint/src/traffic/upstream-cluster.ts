import type { Clock, Service } from '@ambit/core';
import type { LoadBalancer, ServiceTraffic, TrafficPolicy } from '@ambit/core/traffic';
import { endpointKey } from '../proxy/balancer.ts';
import type { Endpoint } from '../proxy/proxy-inputs.ts';
import type { UpstreamPoolSettings, UpstreamProtocol } from '../proxy/upstream.ts';
import { createCircuitBreaker, type CircuitBreaker } from './breaker.ts';
import { hashRequest, type HashFacts, type RequestHash } from './hash-key.ts';
import { buildHashTable, type HashTable } from './hash-table.ts';
import { createOutlierDetector, type OutlierDetector } from './outlier.ts';
import { mergePolicy, poolSettings } from './policy.ts';

/** A request admitted to an endpoint: release it once when the request is off the wire; `pool` configures its connection. */
export interface Lease {
  readonly release: () => void;
  readonly pool: UpstreamPoolSettings | undefined;
}

/**
 * The upstream side of one backend Service port under a DestinationRule (Envoy's `outbound|port||host` cluster and its
 * subset clusters), kept across requests and config pushes so round-robin position, in-flight counts, breakers and
 * ejections persist: endpoint choice by the Service's load balancer among the ready endpoints that are not ejected,
 * admission through the circuit breakers of the endpoint's (sub)cluster, and each answer reported to its outlier
 * detector. An endpoint whose workload is in a subset with a `trafficPolicy` belongs to that subset's cluster (the
 * subset's policy merged over the Service's); every other endpoint to the Service's own. An endpoint in several such
 * subsets belongs to the first (the DestinationRule's order).
 */
export interface UpstreamCluster {
  /** Applies a ServiceTraffic whose policy is unchanged (new subset membership, a newer Service object). */
  update(service: Service, traffic: ServiceTraffic): void;
  /** The request's hash when the load balancer is consistentHash (computed once per request, reused by retries). */
  hashRequest(facts: HashFacts): RequestHash | undefined;
  /**
   * An endpoint of `endpoints` (the Service port's ready endpoints, a stable array per config generation): ejected
   * ones are skipped (unless their cluster is in panic), `exclude` (keys already tried) avoided while another remains.
   * Undefined when none may be used (no endpoint, or all ejected): no healthy upstream.
   */
  pick(endpoints: readonly Endpoint[], exclude: ReadonlySet<string> | undefined, hash: number | undefined): Endpoint | undefined;
  /** Circuit-breaker admission for a request to `endpoint` (`key` its `ip:port`): see CircuitBreaker.admit. */
  admit(endpoint: Endpoint, key: string, protocol: UpstreamProtocol, signal: AbortSignal | undefined): Lease | Promise<Lease>;
  /** One answer from the endpoint `key` (an HTTP status, or 503/504 for a local failure) for outlier detection. */
  report(key: string, status: number): void;
  /** Requests waiting in its breakers' pending queues, endpoints ejected now (over its subset clusters). */
  stats(): { readonly pending: number; readonly ejected: number };
  close(): void;
}

interface SubsetCluster {
  readonly policy: TrafficPolicy;
  readonly breaker: CircuitBreaker | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly pool: UpstreamPoolSettings | undefined;
}

const DEFAULT_LB: LoadBalancer = { kind: 'simple', simple: 'LEAST_REQUEST' };
const noop = (): void => undefined;

export interface UpstreamClusterOptions {
  readonly service: Service;
  readonly port: number;
  readonly traffic: ServiceTraffic;
  readonly clock: Clock;
  readonly onOutlier: (service: Service, endpoint: string, event: 'ejected' | 'returned') => void;
  /** Default Math.random. */
  readonly random?: () => number;
}

export function createUpstreamCluster(opts: UpstreamClusterOptions): UpstreamCluster {
  const random = opts.random ?? Math.random;
  let service = opts.service;
  const name = `${service.hostname}:${opts.port}`;
  const lb = opts.traffic.trafficPolicy?.loadBalancer ?? DEFAULT_LB;

  function makeCluster(policy: TrafficPolicy, label: string): SubsetCluster {
    const od = policy.outlierDetection;
    return {
      policy,
      breaker: policy.connectionPool === undefined ? undefined : createCircuitBreaker(policy.connectionPool, label),
      outlier: od === undefined ? undefined : createOutlierDetector(od, opts.clock, (key, event) => opts.onOutlier(service, key, event)),
      pool: poolSettings(policy),
    };
  }
  const own = makeCluster(mergePolicy(opts.traffic.trafficPolicy, undefined), name);
  /** Subset name → its cluster (subsets with a trafficPolicy only; the others only name endpoints). */
  const subsets = new Map<string, SubsetCluster>();
  for (const s of opts.traffic.subsets) {
    if (s.trafficPolicy !== undefined && !subsets.has(s.name)) {
      subsets.set(s.name, makeCluster(mergePolicy(opts.traffic.trafficPolicy, s.trafficPolicy), `${name} subset ${s.name}`));
    }
  }
  let subsetOfUid = new Map<string, SubsetCluster>();
  function indexMembers(traffic: ServiceTraffic): void {
    const next = new Map<string, SubsetCluster>();
    for (const s of traffic.subsets) {
      const c = subsets.get(s.name);
      if (c === undefined) continue;
      for (const uid of s.workloads) if (!next.has(uid)) next.set(uid, c);
    }
    subsetOfUid = next;
  }
  indexMembers(opts.traffic);

  // What is derived from the endpoint list, rebuilt only when the list's contents change (not on every generation's
  // new array): keys, cluster per endpoint, and the hash ring / Maglev table.
  let list: readonly Endpoint[] | undefined;
  let keys: string[] = [];
  let memberOf: SubsetCluster[] = [];
  let byKey = new Map<string, SubsetCluster>();
  let table: HashTable | undefined;
  let rr = 0;
  const inFlight = new Map<string, number>();

  function sync(endpoints: readonly Endpoint[]): void {
    if (endpoints === list) return;
    const nextKeys = endpoints.map(endpointKey);
    const nextMembers = endpoints.map((e) => subsetOfUid.get(e.workload.uid) ?? own);
    const sameKeys = nextKeys.length === keys.length && nextKeys.every((k, i) => k === keys[i]);
    const sameMembers = sameKeys && nextMembers.every((c, i) => c === memberOf[i]);
    list = endpoints;
    if (sameMembers) return;
    keys = nextKeys;
    memberOf = nextMembers;
    byKey = new Map(keys.map((k, i) => [k, nextMembers[i] as SubsetCluster]));
    for (const c of [own, ...subsets.values()]) c.outlier?.setHosts(keys.filter((_, i) => memberOf[i] === c));
    if (!sameKeys && lb.kind === 'consistentHash') table = buildHashTable(lb.algorithm, keys);
  }

  // The predicate the load balancers consult, made once; `exclude` is set for the duration of one pick.
  let exclude: ReadonlySet<string> | undefined;
  const usable = (i: number): boolean => {
    const key = keys[i] as string;
    if (exclude !== undefined && exclude.has(key)) return false;
    const od = (memberOf[i] as SubsetCluster).outlier;
    return od === undefined || !od.isEjected(key) || od.inPanic();
  };

  /**
   * A uniformly random usable index other than `skip` (-1: none): one draw over all the others, and only if it lands
   * on an unusable one, a draw over the usable ones (together still uniform over them, without a scan in the usual case).
   */
  function randomUsable(n: number, skip: number): number | undefined {
    const others = skip < 0 ? n : n - 1;
    if (others <= 0) return undefined;
    let first = Math.floor(random() * others);
    if (skip >= 0 && first >= skip) first += 1;
    if (usable(first)) return first;
    let count = 0;
    for (let i = 0; i < n; i++) if (i !== skip && usable(i)) count++;
    if (count === 0) return undefined;
    let r = Math.floor(random() * count);
    for (let i = 0; i < n; i++) {
      if (i === skip || !usable(i)) continue;
      if (r === 0) return i;
      r--;
    }
    return undefined;
  }

  function choose(n: number, hash: number | undefined): number | undefined {
    if (lb.kind === 'consistentHash') {
      // A request without its hash key goes to a random endpoint (Envoy: no hash → random).
      return hash === undefined || table === undefined ? randomUsable(n, -1) : table.lookup(hash, usable);
    }
    switch (lb.simple) {
      case 'ROUND_ROBIN':
        for (let step = 0; step < n; step++) {
          const i = (rr + step) % n;
          if (usable(i)) {
            rr = (i + 1) % n;
            return i;
          }
        }
        return undefined;
      case 'LEAST_REQUEST': {
        // Envoy's LEAST_REQUEST with equal weights: power of two choices (two distinct usable endpoints).
        const a = randomUsable(n, -1);
        if (a === undefined) return undefined;
        const b = randomUsable(n, a);
        if (b === undefined) return a;
        return (inFlight.get(keys[b] as string) ?? 0) < (inFlight.get(keys[a] as string) ?? 0) ? b : a;
      }
      // PASSTHROUGH is Envoy's ORIGINAL_DST: the address the client asked for. A pod addressed by IP has no cluster
      // (it goes to that pod); a Service VIP names no single endpoint, so the waypoint picks one at random.
      case 'RANDOM':
      case 'PASSTHROUGH':
        return randomUsable(n, -1);
    }
  }

  return {
    update(next, traffic) {
      service = next;
      indexMembers(traffic);
      list = undefined;
    },
    hashRequest: (facts) => (lb.kind === 'consistentHash' ? hashRequest(lb.key, facts) : undefined),
    pick(endpoints, tried, hash) {
      sync(endpoints);
      const n = endpoints.length;
      if (n === 0) return undefined;
      exclude = tried !== undefined && tried.size > 0 ? tried : undefined;
      let i = choose(n, hash);
      // Every usable endpoint already tried: a retry may go to one of them again (as the default balancer does).
      if (i === undefined && exclude !== undefined) {
        exclude = undefined;
        i = choose(n, hash);
      }
      exclude = undefined;
      return i === undefined ? undefined : endpoints[i];
    },
    admit(endpoint, key, protocol, signal) {
      const c = byKey.get(key) ?? subsetOfUid.get(endpoint.workload.uid) ?? own;
      const lease = (release: () => void): Lease => {
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
        let done = false;
        return {
          release: () => {
            if (done) return;
            done = true;
            const left = (inFlight.get(key) ?? 1) - 1;
            if (left <= 0) inFlight.delete(key);
            else inFlight.set(key, left);
            release();
          },
          pool: c.pool,
        };
      };
      if (c.breaker === undefined) return lease(noop);
      const admitted = c.breaker.admit(key, protocol, signal);
      return typeof admitted === 'function' ? lease(admitted) : admitted.then(lease);
    },
    report(key, status) {
      byKey.get(key)?.outlier?.report(key, status);
    },
    stats() {
      let pending = 0;
      let ejected = 0;
      for (const c of [own, ...subsets.values()]) {
        pending += c.breaker?.stats().pending ?? 0;
        ejected += c.outlier?.ejectedCount() ?? 0;
      }
      return { pending, ejected };
    },
    close() {
      for (const c of [own, ...subsets.values()]) c.outlier?.close();
    },
  };
}
