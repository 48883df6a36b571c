import { X509Certificate } from 'node:crypto';
import type { Service } from '@ambit/core';
import type { CertStatus, WorkloadCert } from '@ambit/core/identity';
import { routeSetKey, type RouteSet } from '@ambit/core/routes';
import type { WaypointConfig } from '../proxy/proxy-inputs.ts';
import type { WaypointStore } from '../state/waypoint-state.ts';

export interface ConfigDumpSources {
  readonly config: WaypointConfig;
  readonly version: string;
  readonly store: WaypointStore;
  readonly xdsConnected: () => boolean;
  readonly synced: () => boolean;
  /** name → `ip:port` of each listening port. */
  readonly listeners: () => Readonly<Record<string, string>>;
  readonly certificates: () => CertStatus[];
  readonly currentCert: () => WorkloadCert | undefined;
}

/** A certificate in the dump (Istio's shape: `{pem, serialNumber, validFrom, expirationTime}`), as ztunnel's. */
function certEntry(pem: string): Record<string, string> {
  const c = new X509Certificate(pem);
  return {
    pem,
    serialNumber: c.serialNumber,
    validFrom: new Date(c.validFrom).toISOString(),
    expirationTime: new Date(c.validTo).toISOString(),
  };
}

/** How the waypoint treats a port: the model's appProtocol, `sniffed` when undeclared (Istio's protocol selection). */
function protocolOf(appProtocol: string): string {
  switch (appProtocol) {
    case 'HTTP11':
      return 'http';
    case 'HTTP2':
      return 'http2';
    case 'GRPC':
      return 'grpc';
    case 'TCP':
    case 'TLS':
      return 'tcp';
    default:
      return 'sniffed';
  }
}

const key = (s: Pick<Service, 'namespace' | 'hostname'>): string => `${s.namespace}/${s.hostname}`;

/**
 * What this waypoint serves, as `/config_dump` returns it (read by `ambitctl waypoint-config`): its listeners; the
 * route sets in use (those that `routesFor` picks for a served Service port, with the ports they apply to); the
 * backends (the Services it serves, and the Services routes send to) with ports and protocols; the ready endpoints of
 * each backend port; the traffic policy held per Service (ServiceTraffic: DestinationRule, retry budget, rate limit);
 * the L7 authorization policies held (those targeting this waypoint's Gateway or a Service); and the certificate state.
 */
export function configDump(src: ConfigDumpSources): Record<string, unknown> {
  const { store } = src;
  const served = store
    .services()
    .filter((s) => store.serves(s))
    .sort((a, b) => (key(a) < key(b) ? -1 : 1));
  const inUse = new Map<string, { set: RouteSet; appliesTo: string[] }>();
  /** Backend Service key → the ports traffic may go to. */
  const backendPorts = new Map<string, { service: Service; served: boolean; ports: Set<number> }>();
  const addBackend = (service: Service, port: number, isServed: boolean): void => {
    let b = backendPorts.get(key(service));
    if (b === undefined) backendPorts.set(key(service), (b = { service, served: isServed, ports: new Set() }));
    b.ports.add(port);
  };
  for (const s of served) {
    for (const p of s.ports) {
      addBackend(s, p.servicePort, true);
      const set = store.routesFor(s, p.servicePort);
      if (set === undefined) continue;
      const name = routeSetKey(set.parent);
      let entry = inUse.get(name);
      if (entry === undefined) inUse.set(name, (entry = { set, appliesTo: [] }));
      entry.appliesTo.push(`${s.hostname}:${p.servicePort}`);
      for (const rule of set.rules) {
        for (const b of rule.backends) {
          if (b.service === undefined) continue;
          const target = store.serviceByHostname(b.service.namespace, b.service.hostname);
          if (target !== undefined) addBackend(target, b.service.port, key(target) === key(s) || store.serves(target));
        }
      }
    }
  }
  const backends = [...backendPorts.values()].map(({ service, served: isServed, ports }) => ({
    name: service.name,
    namespace: service.namespace,
    hostname: service.hostname,
    vips: service.addresses.map((a) => a.address),
    served: isServed,
    ports: service.ports
      .filter((p) => ports.has(p.servicePort))
      .map((p) => ({ port: p.servicePort, targetPort: p.targetPort, appProtocol: p.appProtocol, protocol: protocolOf(p.appProtocol) })),
  }));
  const endpoints = [...backendPorts.values()].flatMap(({ service, ports }) =>
    [...ports]
      .sort((a, b) => a - b)
      .map((port) => ({
        service: service.hostname,
        namespace: service.namespace,
        port,
        endpoints: store.endpoints(service, port).map((e) => ({
          workload: e.workload.name,
          namespace: e.workload.namespace,
          address: e.workload.addresses[0] ?? '',
          port: e.port,
          identity: `spiffe://${e.workload.trustDomain}/ns/${e.workload.namespace}/sa/${e.workload.serviceAccount}`,
          node: e.workload.node,
        })),
      })),
  );
  const held = src.currentCert();
  const certificates = src.certificates().map((s) => ({
    identity: s.identity,
    state: s.state,
    failures: s.failures,
    ...(s.nextRefreshAt === undefined ? {} : { nextRefreshAt: s.nextRefreshAt }),
    ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
    certChain: held === undefined || held.identity !== s.identity ? [] : held.certChain.map(certEntry),
    rootCerts: held === undefined || held.identity !== s.identity ? [] : held.roots.map(certEntry),
  }));
  return {
    version: { component: 'waypoint', version: src.version },
    config: {
      gateway: `${src.config.gateway.namespace}/${src.config.gateway.name}`,
      identity: src.config.identity,
      pod: src.config.podName,
      podIp: src.config.podIp,
      xdsConnected: src.xdsConnected(),
      configSynced: src.synced(),
      generation: store.generation(),
    },
    listeners: Object.entries(src.listeners()).map(([name, address]) => ({ name, address })),
    routes: [...inUse.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, { set, appliesTo }]) => ({ name, appliesTo, parent: set.parent, rules: set.rules, entries: set.entries })),
    backends,
    endpoints,
    traffic: store.serviceTraffic(),
    authorizations: store.l7Policies(),
    certificates,
  };
}
