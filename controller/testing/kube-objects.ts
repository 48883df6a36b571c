/**
 * Kubernetes-shaped objects for the model tests (STYLE rule 20): plain JSON as a watch delivers it, so the tests go
 * through the same parsing as production. Defaults: namespace `demo`, a Running and Ready pod with one IP.
 */

export const NS = 'demo';

type Labels = Record<string, string>;

export interface PodOptions {
  readonly ns?: string;
  readonly labels?: Labels;
  readonly annotations?: Labels;
  /** One or more IPs; null for a pod that has none yet. Default 10.244.1.<n>. */
  readonly ips?: readonly string[] | null;
  readonly node?: string;
  readonly serviceAccount?: string;
  readonly phase?: string;
  readonly ready?: boolean;
  readonly deleting?: boolean;
  readonly owner?: { readonly kind: string; readonly name: string };
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number; readonly protocol?: string }>;
  readonly hostNetwork?: boolean;
  readonly uid?: string;
}

let nextIp = 10;

export function pod(name: string, o: PodOptions = {}): Record<string, unknown> {
  const ips = o.ips === undefined ? [`10.244.1.${nextIp++}`] : o.ips;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.ns ?? NS,
      uid: o.uid ?? `uid-${name}`,
      labels: o.labels ?? {},
      ...(o.annotations === undefined ? {} : { annotations: o.annotations }),
      ...(o.deleting === true ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
      ...(o.owner === undefined
        ? {}
        : { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner.kind, name: o.owner.name, controller: true, uid: 'x' }] }),
    },
    spec: {
      nodeName: o.node ?? 'node1',
      ...(o.serviceAccount === undefined ? {} : { serviceAccountName: o.serviceAccount }),
      ...(o.hostNetwork === undefined ? {} : { hostNetwork: o.hostNetwork }),
      containers: [{ name: 'app', image: 'app:1', ports: o.ports ?? [] }],
    },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: (o.ready ?? true) ? 'True' : 'False' }],
      ...(ips === null ? {} : { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) }),
    },
  };
}

/** A pod of Deployment `deploy`, as its ReplicaSet `<deploy>-<hash>` names and labels it. */
export function deploymentPod(deploy: string, suffix: string, o: PodOptions = {}): Record<string, unknown> {
  const hash = `${deploy.length}f9c8d7b6`;
  return pod(`${deploy}-${hash}-${suffix}`, {
    ...o,
    labels: { app: deploy, 'pod-template-hash': hash, ...o.labels },
    owner: { kind: 'ReplicaSet', name: `${deploy}-${hash}` },
  });
}

export interface ServicePortFixture {
  readonly name?: string;
  readonly port: number;
  readonly targetPort?: number | string;
  readonly appProtocol?: string;
  readonly protocol?: string;
}

export interface ServiceOptions {
  readonly ns?: string;
  readonly labels?: Labels;
  readonly selector?: Labels | null;
  readonly clusterIP?: string;
  readonly clusterIPs?: readonly string[];
  readonly ports?: readonly ServicePortFixture[];
}

export function service(name: string, o: ServiceOptions = {}): Record<string, unknown> {
  const clusterIP = o.clusterIP ?? '10.96.0.10';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.ns ?? NS, labels: o.labels ?? {} },
    spec: {
      type: 'ClusterIP',
      ...(o.selector === null ? {} : { selector: o.selector ?? { app: name } }),
      clusterIP,
      clusterIPs: o.clusterIPs ?? [clusterIP],
      ports: (o.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }]).map((p) => ({ protocol: 'TCP', ...p })),
    },
  };
}

export function namespace(name: string, labels: Labels = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function gateway(
  name: string,
  o: { readonly ns?: string; readonly className?: string; readonly waypointFor?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name,
      namespace: o.ns ?? NS,
      labels: o.waypointFor === undefined ? {} : { 'istio.io/waypoint-for': o.waypointFor },
    },
    spec: {
      gatewayClassName: o.className ?? 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

export function authorizationPolicy(
  name: string,
  spec: Record<string, unknown>,
  o: { readonly ns?: string; readonly annotations?: Labels; readonly apiVersion?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: o.apiVersion ?? 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace: o.ns ?? NS, ...(o.annotations === undefined ? {} : { annotations: o.annotations }) },
    spec,
  };
}

export function peerAuthentication(
  name: string,
  spec: Record<string, unknown>,
  o: { readonly ns?: string; readonly created?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace: o.ns ?? NS, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec,
  };
}
