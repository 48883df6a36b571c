import { DEFAULT_TRUST_DOMAIN, type AppProtocol, type GatewayAddress, type Service, type Workload } from '@ambit/core';

// Mesh objects for waypoint tests, built as the controller publishes them (STYLE rule 20).

/** The `GatewayAddress` a Service or workload carries when it is enrolled with waypoint `namespace/name`. */
export function waypointRef(namespace: string, name: string): GatewayAddress {
  return { destination: { kind: 'hostname', namespace, hostname: `${name}.${namespace}.svc.cluster.local` }, hboneMtlsPort: 15008 };
}

export function meshService(
  namespace: string,
  name: string,
  vip: string,
  ports: ReadonlyArray<{ port: number; targetPort?: number; appProtocol?: AppProtocol }>,
  extra: Partial<Service> = {},
): Service {
  return {
    name,
    namespace,
    hostname: `${name}.${namespace}.svc.cluster.local`,
    addresses: vip === '' ? [] : [{ network: '', address: vip }],
    ports: ports.map((p) => ({ servicePort: p.port, targetPort: p.targetPort ?? p.port, appProtocol: p.appProtocol ?? 'UNKNOWN' })),
    subjectAltNames: [],
    ...extra,
  };
}

/** A pod backing `services` (each with its port map), HEALTHY unless `extra` says otherwise. */
export function meshWorkload(
  namespace: string,
  name: string,
  ip: string,
  services: ReadonlyArray<{ service: Service; ports?: ReadonlyArray<{ servicePort: number; targetPort: number }> }> = [],
  extra: Partial<Workload> = {},
): Workload {
  const map: Record<string, Workload['services'][string]> = {};
  for (const s of services) {
    map[`${s.service.namespace}/${s.service.hostname}`] = (s.ports ?? s.service.ports).map((p) => ({
      servicePort: p.servicePort,
      targetPort: p.targetPort,
      appProtocol: 'UNKNOWN',
    }));
  }
  return {
    uid: `Kubernetes//Pod/${namespace}/${name}`,
    name,
    namespace,
    addresses: [ip],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: DEFAULT_TRUST_DOMAIN,
    serviceAccount: name.replace(/-[a-z0-9]+$/, ''),
    node: 'node-1',
    canonicalName: name.replace(/-[a-z0-9]+$/, ''),
    canonicalRevision: 'v1',
    workloadType: 'POD',
    workloadName: name.replace(/-[a-z0-9]+$/, ''),
    services: map,
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...extra,
  };
}
