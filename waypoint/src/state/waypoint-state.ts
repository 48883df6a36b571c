import { ipKey, serviceKey, targetPortFor, type GatewayAddress, type Service, type Workload } from '@ambit/core';
import type { AddressResource } from '@ambit/core/codec';
import type { L7Authorization } from '@ambit/core/policy';
import { routeSetKey, type RouteSet } from '@ambit/core/routes';
import { serviceTrafficKey, type ServiceTraffic } from '@ambit/core/traffic';
import type { Endpoint, WaypointState } from '../proxy/proxy-inputs.ts';
import { namesWaypoint } from './waypoint-binding.ts';

/**
 * What this waypoint knows of the mesh (ztunnel `src/state.rs`, plus the routes): workloads and services as the
 * controller last published them (every address, so any destination can be looked up) and the route sets. It is fed
 * by the xDS client's accepted changes only and never talks to the network, so a NACK or a controller outage leaves
 * it at the last good state. The data path reads it per request; look-ups are map reads, and endpoint lists are
 * computed once per generation.
 */
export interface WaypointStore extends WaypointState {
  /** Applies one accepted xDS response of the Address type. */
  applyAddresses(upserted: ReadonlyMap<string, AddressResource>, removed: readonly string[]): void;
  /** Applies one accepted xDS response of the RouteSet type (keys are resource names, i.e. routeSetKey). */
  applyRouteSets(upserted: ReadonlyMap<string, RouteSet>, removed: readonly string[]): void;
  /** Applies one accepted xDS response of the L7Authorization type (keys `namespace/name`). */
  applyL7Authorizations(upserted: ReadonlyMap<string, L7Authorization>, removed: readonly string[]): void;
  /** Applies one accepted xDS response of the ServiceTraffic type (keys `namespace/hostname`). */
  applyServiceTraffic(upserted: ReadonlyMap<string, ServiceTraffic>, removed: readonly string[]): void;
  /** Every L7 policy held that targets this waypoint or a Service (sorted by key). */
  l7Policies(): L7Authorization[];
  /** Every ServiceTraffic held (sorted by key). */
  serviceTraffic(): ServiceTraffic[];
  workloads(): Workload[];
  services(): Service[];
  /** Every route set held, by resource name, sorted by name. */
  routeSets(): Array<[string, RouteSet]>;
  /** True when `service` names this waypoint (its routes apply here). */
  serves(service: Service): boolean;
}

export function createWaypointStore(gateway: { readonly namespace: string; readonly name: string }): WaypointStore {
  const workloads = new Map<string, Workload>();
  const workloadIps = new Map<string, Workload>();
  const services = new Map<string, Service>();
  const vips = new Map<string, Service>();
  /** Service key → uids of the workloads that list it. */
  const members = new Map<string, Set<string>>();
  const routeSets = new Map<string, RouteSet>();
  const l7 = new Map<string, L7Authorization>();
  const traffic = new Map<string, ServiceTraffic>();
  let gen = 0;
  /**
   * Policies that target this Gateway, and by Service (`namespace/hostname`) the Gateway's followed by the Service's
   * own, so a request reads one list without allocating. Rebuilt on the next read after an L7 change only.
   */
  let gatewayPolicies: readonly L7Authorization[] = [];
  let servicePolicies = new Map<string, readonly L7Authorization[]>();
  let policiesStale = true;

  function indexPolicies(): void {
    const forGateway: L7Authorization[] = [];
    const byService = new Map<string, L7Authorization[]>();
    for (const key of [...l7.keys()].sort()) {
      const p = l7.get(key) as L7Authorization;
      for (const t of p.targets) {
        if (t.kind === 'Gateway') {
          if (t.namespace === gateway.namespace && t.name === gateway.name && !forGateway.includes(p)) forGateway.push(p);
        } else {
          const k = serviceTrafficKey(t);
          let list = byService.get(k);
          if (list === undefined) byService.set(k, (list = []));
          if (!list.includes(p)) list.push(p);
        }
      }
    }
    gatewayPolicies = forGateway;
    servicePolicies = new Map(
      [...byService].map(([k, own]) => [k, [...forGateway, ...own.filter((p) => !forGateway.includes(p))]] as const),
    );
    policiesStale = false;
  }
  /** `serviceKey:port` → endpoints, valid for `cachedGen`. */
  let endpointCache = new Map<string, readonly Endpoint[]>();
  let cachedGen = -1;

  const namesThisWaypoint = (w: GatewayAddress | undefined): boolean => namesWaypoint(w, gateway, (ip) => vips.get(ipKey(ip)));

  function dropWorkload(uid: string): void {
    const old = workloads.get(uid);
    if (old === undefined) return;
    workloads.delete(uid);
    for (const a of old.addresses) if (workloadIps.get(ipKey(a))?.uid === uid) workloadIps.delete(ipKey(a));
    for (const key of Object.keys(old.services)) members.get(key)?.delete(uid);
  }

  function dropService(name: string): void {
    const old = services.get(name);
    if (old === undefined) return;
    services.delete(name);
    for (const a of old.addresses) if (vips.get(ipKey(a.address)) === old) vips.delete(ipKey(a.address));
  }

  function add(name: string, r: AddressResource): void {
    // A resource name is either kind; a name that changed kind must not leave the other behind.
    dropWorkload(name);
    dropService(name);
    if ('workload' in r) {
      const w = r.workload;
      if (w.uid !== name) dropWorkload(w.uid);
      workloads.set(w.uid, w);
      for (const a of w.addresses) workloadIps.set(ipKey(a), w);
      for (const key of Object.keys(w.services)) {
        let set = members.get(key);
        if (set === undefined) members.set(key, (set = new Set()));
        set.add(w.uid);
      }
    } else {
      services.set(name, r.service);
      for (const a of r.service.addresses) vips.set(ipKey(a.address), r.service);
    }
  }

  function computeEndpoints(service: Service, port: number): readonly Endpoint[] {
    const out: Endpoint[] = [];
    for (const uid of members.get(serviceKey(service)) ?? []) {
      const w = workloads.get(uid);
      if (w === undefined || w.status !== 'HEALTHY' || w.addresses.length === 0) continue;
      const target = targetPortFor(w, service, port);
      if (target !== undefined) out.push({ workload: w, port: target });
    }
    // A stable order (the contract), so the data path's choices do not depend on map order.
    out.sort((a, b) => (a.workload.uid < b.workload.uid ? -1 : a.workload.uid > b.workload.uid ? 1 : 0));
    return out;
  }

  const serviceByHostname = (namespace: string, hostname: string): Service | undefined => services.get(`${namespace}/${hostname}`);

  return {
    applyAddresses(upserted, removed) {
      for (const name of removed) {
        dropWorkload(name);
        dropService(name);
      }
      for (const [name, r] of upserted) add(name, r);
      gen += 1;
    },
    applyRouteSets(upserted, removed) {
      for (const name of removed) routeSets.delete(name);
      for (const [name, set] of upserted) routeSets.set(name, set);
      gen += 1;
    },
    applyL7Authorizations(upserted, removed) {
      for (const name of removed) l7.delete(name);
      for (const [name, p] of upserted) l7.set(name, p);
      policiesStale = true;
      gen += 1;
    },
    applyServiceTraffic(upserted, removed) {
      for (const name of removed) traffic.delete(name);
      for (const [name, t] of upserted) traffic.set(name, t);
      gen += 1;
    },
    l7PoliciesFor(service) {
      if (policiesStale) indexPolicies();
      return (service === undefined ? undefined : servicePolicies.get(serviceTrafficKey(service))) ?? gatewayPolicies;
    },
    trafficFor: (service) => traffic.get(serviceTrafficKey(service)),
    l7Policies: () => [...l7.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p),
    serviceTraffic: () => [...traffic.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t),
    serviceByVip: (ip) => vips.get(ipKey(ip)),
    serviceByHostname,
    workloadByIp: (ip) => workloadIps.get(ipKey(ip)),
    endpoints(service, port) {
      if (cachedGen !== gen) {
        endpointCache = new Map();
        cachedGen = gen;
      }
      const key = `${serviceKey(service)}:${port}`;
      let list = endpointCache.get(key);
      if (list === undefined) endpointCache.set(key, (list = computeEndpoints(service, port)));
      return list;
    },
    routesFor(service, port) {
      if (!namesThisWaypoint(service.waypoint)) return undefined;
      const parent = { kind: 'Service', namespace: service.namespace, hostname: service.hostname } as const;
      return (
        routeSets.get(routeSetKey({ ...parent, port })) ??
        routeSets.get(routeSetKey(parent)) ??
        routeSets.get(routeSetKey({ kind: 'Gateway', namespace: gateway.namespace, name: gateway.name }))
      );
    },
    generation: () => gen,
    workloads: () => [...workloads.values()],
    services: () => [...services.values()],
    routeSets: () => [...routeSets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    serves: (service) => namesThisWaypoint(service.waypoint),
  };
}
