/**
 * The mesh model every proxy enforces, with Istio's WDS semantics (reference istio-ambient.md §4, §6): what the
 * controller computes from Kubernetes objects and pushes over xDS, and what ztunnel and waypoints read. Plain,
 * readonly data: the wire codec (codec.ts) maps it to Istio's protobuf field numbers.
 */

export type TunnelProtocol = 'NONE' | 'HBONE';
export type WorkloadType = 'DEPLOYMENT' | 'CRONJOB' | 'POD' | 'JOB';
export type HealthStatus = 'HEALTHY' | 'UNHEALTHY';
export type AppProtocol = 'UNKNOWN' | 'HTTP11' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';

/** An IP on a network (network '' = the default network). Addresses are kept as text (`10.244.1.5`, `fd00::1`). */
export interface NetworkAddress {
  readonly network: string;
  readonly address: string;
}

/** Where a waypoint is: a Service hostname (the usual case) or an address, and its HBONE port (15008). */
export interface GatewayAddress {
  readonly destination:
    | { readonly kind: 'hostname'; readonly namespace: string; readonly hostname: string }
    | { readonly kind: 'address'; readonly network: string; readonly address: string };
  readonly hboneMtlsPort: number;
}

export interface PortMapping {
  readonly servicePort: number;
  /** 0 when the Service's named targetPort is not defined by this workload's containers. */
  readonly targetPort: number;
  readonly appProtocol: AppProtocol;
}

export interface Workload {
  /** `<clusterId>//Pod/<namespace>/<name>`: stable across restarts of the same pod object only. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly hostname: string;
  readonly network: string;
  readonly tunnelProtocol: TunnelProtocol;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  readonly waypoint?: GatewayAddress;
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: WorkloadType;
  readonly workloadName: string;
  /** Services this workload backs: key `namespace/hostname`, value the port map resolved for this pod. */
  readonly services: Readonly<Record<string, readonly PortMapping[]>>;
  /** Selector-scoped Authorizations (`namespace/name`) that apply to this workload. */
  readonly authorizationPolicies: readonly string[];
  readonly status: HealthStatus;
  readonly clusterId: string;
}

export interface Service {
  readonly name: string;
  readonly namespace: string;
  /** `name.namespace.svc.cluster.local`. */
  readonly hostname: string;
  /** Empty for a headless Service. */
  readonly addresses: readonly NetworkAddress[];
  readonly ports: readonly PortMapping[];
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
}

export type StringMatch =
  { readonly exact: string } | { readonly prefix: string } | { readonly suffix: string } | { readonly presence: true };

export interface Cidr {
  readonly address: string;
  readonly length: number;
}

export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Within a Match: populated field types AND, values of one type OR, `not*` = none may match. */
export interface Match {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
  /** Compared without the `spiffe://` prefix. */
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly sourceIps: readonly Cidr[];
  readonly notSourceIps: readonly Cidr[];
  readonly destinationIps: readonly Cidr[];
  readonly notDestinationIps: readonly Cidr[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
}

/** A Match with every field empty; fill in the fields a rule populates. */
export function emptyMatch(): Match {
  return {
    namespaces: [],
    notNamespaces: [],
    serviceAccounts: [],
    notServiceAccounts: [],
    principals: [],
    notPrincipals: [],
    sourceIps: [],
    notSourceIps: [],
    destinationIps: [],
    notDestinationIps: [],
    destinationPorts: [],
    notDestinationPorts: [],
  };
}

/** Matches of a clause OR. */
export interface Clause {
  readonly matches: readonly Match[];
}

/** Clauses of a rule AND; rules of a policy OR. */
export interface Rule {
  readonly clauses: readonly Clause[];
}

export type AuthorizationScope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';
export type AuthorizationAction = 'ALLOW' | 'DENY';

export interface Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  readonly rules: readonly Rule[];
  readonly dryRun: boolean;
}

/** xDS resource keys: workloads by uid, services by `namespace/hostname`, authorizations by `namespace/name`. */
export function serviceKey(s: Pick<Service, 'namespace' | 'hostname'>): string {
  return `${s.namespace}/${s.hostname}`;
}

export function authorizationKey(a: Pick<Authorization, 'namespace' | 'name'>): string {
  return `${a.namespace}/${a.name}`;
}

/** Istio's type URLs, so an Istio-aware client recognises the resources. */
export const ADDRESS_TYPE_URL = 'type.googleapis.com/istio.workload.Address';
export const AUTHORIZATION_TYPE_URL = 'type.googleapis.com/istio.security.Authorization';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
export const HBONE_PORT = 15008;
/** Policies in this namespace apply mesh-wide (Istio's root namespace, renamed). */
export const ROOT_NAMESPACE = 'ambit-system';
