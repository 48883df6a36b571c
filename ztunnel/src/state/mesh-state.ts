import { isIP } from 'node:net';
import { ipKey, spiffeId, targetPortFor, type Authorization, type GatewayAddress, type Service, type Workload } from '@ambit/core';
import type { AddressResource } from '@ambit/core/codec';
import { compilePolicies, createSourceFactsCache, policiesInScope, type PolicySet } from '@ambit/core/policy';

/**
 * What this ztunnel knows of the mesh (ztunnel `src/state.rs`): workloads, services and authorizations as the
 * controller last published them, indexed for the per-connection look-ups of the data path. It is fed by the xDS
 * client's changes and never talks to the network, so a controller outage leaves it at the last good state.
 */

/** Where an outbound connection goes, decided from its original destination. */
export type Destination =
  | {
      readonly kind: 'workload';
      readonly workload: Workload;
      /** The port on the workload (a Service's targetPort resolved for this pod, or the original port). */
      readonly port: number;
      /** Set when the connection was addressed to a Service VIP. */
      readonly service: Service | undefined;
    }
  /**
   * Through the waypoint the destination names (contract 5, Istio ztunnel `fetch_service_waypoint` /
   * `fetch_workload_waypoint`): tunnel to a waypoint pod with the ORIGINAL destination as `:authority`; the waypoint
   * picks the endpoint, so no Service load balancing happens here.
   */
  | {
      readonly kind: 'waypoint';
      /** The waypoint pod chosen (round-robin over its Service's healthy HBONE endpoints). */
      readonly waypoint: Workload;
      /** The waypoint pod's address and HBONE port: the tunnel's next hop. */
      readonly nextHop: { readonly host: string; readonly port: number };
      /** SPIFFE IDs the waypoint may present: its own workload identity, then its Service's SANs. */
      readonly identities: readonly string[];
      /** The Service the connection was addressed to (a VIP); undefined for a pod-IP destination. */
      readonly service: Service | undefined;
    }
  /** Addressed to a Service VIP with no healthy endpoint for that port: refuse at once. */
  | { readonly kind: 'no-healthy-upstream'; readonly service: Service }
  /**
   * The destination names a waypoint, but no ready waypoint pod can be found: refuse, as Istio does (never bypass the
   * waypoint, whose L7 policy and routing the user asked for).
   */
  | { readonly kind: 'no-healthy-waypoint'; readonly service: Service | undefined; readonly reason: string }
  /** Not a mesh address (or a mesh pod outside the mesh): plain TCP to the original destination. */
  | { readonly kind: 'passthrough' };

export interface MeshState {
  /** Applies one accepted xDS response for the Address type. */
  applyAddresses(upserted: ReadonlyMap<string, AddressResource>, removed: readonly string[]): void;
  applyAuthorizations(upserted: ReadonlyMap<string, Authorization>, removed: readonly string[]): void;
  workloadByIp(ip: string): Workload | undefined;
  workloadByUid(uid: string): Workload | undefined;
  serviceByVip(ip: string): Service | undefined;
  /**
   * Decides the destination of an outbound connection to `ip:port` from `source` (service load balancing and the
   * waypoint included). A source that is itself one of the destination's waypoint pods never goes to that waypoint.
   */
  resolve(ip: string, port: number, source?: Workload): Destination;
  /** The authorizations that apply to connections to `workload`: global, its namespace's, and its selector ones. */
  policiesFor(workload: Workload): Authorization[];
  /** The same, compiled for fast decisions; cached until the state changes. */
  policySetFor(workload: Workload): PolicySet;
  workloads(): Workload[];
  services(): Service[];
  authorizations(): Authorization[];
  /** Bumped on every change; lets callers cache derived data (e.g. live connection re-checks). */
  generation(): number;
}

export function workloadIdentity(w: Pick<Workload, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return spiffeId(w.trustDomain, w.namespace, w.serviceAccount);
}

export function createMeshState(rootNamespace: string): MeshState {
  const workloads = new Map<string, Workload>();
  const workloadIps = new Map<string, Workload>();
  const services = new Map<string, Service>();
  const vips = new Map<string, Service>();
  /** Service key → uids of workloads that list it. */
  const endpoints = new Map<string, Set<string>>();
  const authorizations = new Map<string, Authorization>();
  /** Round-robin cursor per service:port. */
  const cursors = new Map<string, number>();
  let gen = 0;
  /** Compiled policy sets by workload uid, valid for one generation. */
  let compiled = new Map<string, PolicySet>();
  // Outlives the compiled sets: peers' identities stay the same when the policies change.
  const sources = createSourceFactsCache();
  let compiledGen = -1;

  const policiesFor = (workload: Workload): Authorization[] =>
    policiesInScope(workload, authorizations.values(), (key) => authorizations.get(key), rootNamespace);

  function dropWorkload(uid: string): void {
    const old = workloads.get(uid);
    if (old === undefined) return;
    workloads.delete(uid);
    for (const a of old.addresses) if (workloadIps.get(ipKey(a))?.uid === uid) workloadIps.delete(ipKey(a));
    for (const key of Object.keys(old.services)) endpoints.get(key)?.delete(uid);
  }

  function dropService(key: string): void {
    const old = services.get(key);
    if (old === undefined) return;
    services.delete(key);
    for (const a of old.addresses) if (vips.get(ipKey(a.address)) === old) vips.delete(ipKey(a.address));
  }

  function addResource(name: string, r: AddressResource): void {
    if ('workload' in r) {
      const w = r.workload;
      dropWorkload(w.uid);
      dropService(name);
      workloads.set(w.uid, w);
      for (const a of w.addresses) workloadIps.set(ipKey(a), w);
      for (const key of Object.keys(w.services)) {
        let set = endpoints.get(key);
        if (set === undefined) endpoints.set(key, (set = new Set()));
        set.add(w.uid);
      }
    } else {
      const s = r.service;
      dropService(name);
      dropWorkload(name);
      services.set(name, s);
      for (const a of s.addresses) vips.set(ipKey(a.address), s);
    }
  }

  /** Waypoint pods of one GatewayAddress: the healthy HBONE endpoints of its Service, or the workload at its address. */
  function waypointPods(gw: GatewayAddress): { pods: Workload[]; service: Service | undefined } | string {
    const d = gw.destination;
    let service: Service | undefined;
    if (d.kind === 'hostname') {
      service = services.get(`${d.namespace}/${d.hostname}`);
      if (service === undefined) return `waypoint service ${d.namespace}/${d.hostname} is not known`;
    } else {
      service = vips.get(ipKey(d.address));
      if (service === undefined) {
        const w = workloadIps.get(ipKey(d.address));
        if (w === undefined) return `waypoint address ${d.address} is not a known workload or service`;
        return { pods: [w], service: undefined };
      }
    }
    const pods: Workload[] = [];
    for (const uid of endpoints.get(`${service.namespace}/${service.hostname}`) ?? []) {
      const w = workloads.get(uid);
      if (w !== undefined) pods.push(w);
    }
    return { pods, service };
  }

  /**
   * The waypoint route for a destination that names `gw`; undefined when `source` is one of its pods (its own traffic
   * must not loop back into it). Round-robin over ready pods, in a stable order; the address family of the original
   * destination is preferred (Istio adapts a hostname waypoint to the caller's family).
   */
  function resolveWaypoint(
    gw: GatewayAddress,
    service: Service | undefined,
    dstIp: string,
    source: Workload | undefined,
  ): Destination | undefined {
    const found = waypointPods(gw);
    if (typeof found === 'string') return { kind: 'no-healthy-waypoint', service, reason: found };
    if (source !== undefined && found.pods.some((w) => w.uid === source.uid)) return undefined;
    const ready = found.pods
      .filter((w) => w.status === 'HEALTHY' && w.tunnelProtocol === 'HBONE' && w.addresses.length > 0)
      .sort((a, b) => (a.uid < b.uid ? -1 : 1));
    const d = gw.destination;
    const name = d.kind === 'hostname' ? `${d.namespace}/${d.hostname}` : d.address;
    if (ready.length === 0) return { kind: 'no-healthy-waypoint', service, reason: `waypoint ${name} has no ready pod` };
    const cursorKey = `waypoint:${name}`;
    const n = cursors.get(cursorKey) ?? 0;
    cursors.set(cursorKey, (n + 1) % ready.length);
    const waypoint = ready[n % ready.length] ?? ready[0];
    if (waypoint === undefined) return { kind: 'no-healthy-waypoint', service, reason: `waypoint ${name} has no ready pod` };
    const family = isIP(dstIp);
    // A waypoint named by its own pod address is reached there; one named by hostname (or by its Service's VIP) at
    // the chosen pod's address.
    const byPodAddress = d.kind === 'address' && found.service === undefined;
    const host = byPodAddress ? d.address : (waypoint.addresses.find((a) => isIP(a) === family) ?? waypoint.addresses[0] ?? '');
    const sans = found.service?.subjectAltNames ?? [];
    return {
      kind: 'waypoint',
      waypoint,
      nextHop: { host, port: gw.hboneMtlsPort },
      identities: [workloadIdentity(waypoint), ...sans],
      service,
    };
  }

  function resolveService(service: Service, port: number): Destination {
    const key = `${service.namespace}/${service.hostname}`;
    const candidates: { workload: Workload; port: number }[] = [];
    for (const uid of endpoints.get(key) ?? []) {
      const w = workloads.get(uid);
      if (w === undefined || w.status !== 'HEALTHY' || w.addresses.length === 0) continue;
      const target = targetPortFor(w, service, port);
      if (target !== undefined) candidates.push({ workload: w, port: target });
    }
    if (candidates.length === 0) return { kind: 'no-healthy-upstream', service };
    // A stable order, so round-robin visits each endpoint once per cycle whatever the map order.
    candidates.sort((a, b) => (a.workload.uid < b.workload.uid ? -1 : 1));
    const cursorKey = `${key}:${port}`;
    const n = cursors.get(cursorKey) ?? 0;
    cursors.set(cursorKey, (n + 1) % candidates.length);
    const pick = candidates[n % candidates.length];
    if (pick === undefined) return { kind: 'no-healthy-upstream', service };
    return { kind: 'workload', workload: pick.workload, port: pick.port, service };
  }

  return {
    applyAddresses(upserted, removed) {
      for (const name of removed) {
        dropWorkload(name);
        dropService(name);
      }
      for (const [name, r] of upserted) addResource(name, r);
      gen += 1;
    },
    applyAuthorizations(upserted, removed) {
      for (const name of removed) authorizations.delete(name);
      for (const [name, a] of upserted) authorizations.set(name, a);
      gen += 1;
    },
    workloadByIp: (ip) => workloadIps.get(ipKey(ip)),
    workloadByUid: (uid) => workloads.get(uid),
    serviceByVip: (ip) => vips.get(ipKey(ip)),
    resolve(ip, port, source) {
      const service = vips.get(ipKey(ip));
      if (service !== undefined) {
        // A Service's waypoint is used only when the Service itself was addressed: traffic to a pod IP takes its
        // workload's waypoint, and Service traffic without a Service waypoint goes straight to an endpoint (Istio).
        const via = service.waypoint && resolveWaypoint(service.waypoint, service, ip, source);
        return via || resolveService(service, port);
      }
      const workload = workloadIps.get(ipKey(ip));
      if (workload !== undefined) {
        const via = workload.waypoint && resolveWaypoint(workload.waypoint, undefined, ip, source);
        return via || { kind: 'workload', workload, port, service: undefined };
      }
      return { kind: 'passthrough' };
    },
    policiesFor,
    policySetFor(workload) {
      if (compiledGen !== gen) {
        compiled = new Map();
        compiledGen = gen;
      }
      let set = compiled.get(workload.uid);
      if (set === undefined) compiled.set(workload.uid, (set = compilePolicies(policiesFor(workload), sources)));
      return set;
    },
    workloads: () => [...workloads.values()],
    services: () => [...services.values()],
    authorizations: () => [...authorizations.values()],
    generation: () => gen,
  };
}
