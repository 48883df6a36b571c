/**
 * TypeScript shapes of workload.proto / authorization.proto messages as model/codec.ts reads them: protobufjs
 * `toObject` output with `enums: String, defaults: true, arrays: true, objects: true, oneofs: true` (absent
 * messages are null; the name of a oneof's set member is in the oneof's own field). An enum number this build does
 * not know comes out as a number, which is why enum fields are typed `string | number`.
 */

export interface NetworkAddressWire {
  readonly network: string;
  readonly address: Uint8Array;
}

export interface NamespacedHostnameWire {
  readonly namespace: string;
  readonly hostname: string;
}

export interface GatewayAddressWire {
  readonly destination?: 'hostname' | 'address';
  readonly hostname?: NamespacedHostnameWire | null;
  readonly address?: NetworkAddressWire | null;
  readonly hboneMtlsPort: number;
}

export interface PortWire {
  readonly servicePort: number;
  readonly targetPort: number;
  readonly appProtocol: string | number;
}

export interface WorkloadWire {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly Uint8Array[];
  readonly hostname: string;
  readonly network: string;
  readonly tunnelProtocol: string | number;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  readonly waypoint: GatewayAddressWire | null;
  readonly node: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: string | number;
  readonly workloadName: string;
  readonly services: Readonly<Record<string, { readonly ports: readonly PortWire[] }>>;
  readonly authorizationPolicies: readonly string[];
  readonly status: string | number;
  readonly clusterId: string;
}

export interface ServiceWire {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly addresses: readonly NetworkAddressWire[];
  readonly ports: readonly PortWire[];
  readonly subjectAltNames: readonly string[];
  readonly waypoint: GatewayAddressWire | null;
}

export interface AddressWire {
  readonly type?: 'workload' | 'service';
  readonly workload?: WorkloadWire | null;
  readonly service?: ServiceWire | null;
}

export interface StringMatchWire {
  readonly matchType?: 'exact' | 'prefix' | 'suffix' | 'presence';
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
}

export interface ServiceAccountMatchWire {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export interface CidrWire {
  readonly address: Uint8Array;
  readonly length: number;
}

export interface MatchWire {
  readonly namespaces: readonly StringMatchWire[];
  readonly notNamespaces: readonly StringMatchWire[];
  readonly serviceAccounts: readonly ServiceAccountMatchWire[];
  readonly notServiceAccounts: readonly ServiceAccountMatchWire[];
  readonly principals: readonly StringMatchWire[];
  readonly notPrincipals: readonly StringMatchWire[];
  readonly sourceIps: readonly CidrWire[];
  readonly notSourceIps: readonly CidrWire[];
  readonly destinationIps: readonly CidrWire[];
  readonly notDestinationIps: readonly CidrWire[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
}

export interface AuthorizationWire {
  readonly name: string;
  readonly namespace: string;
  readonly scope: string | number;
  readonly action: string | number;
  readonly rules: ReadonlyArray<{ readonly clauses: ReadonlyArray<{ readonly matches: readonly MatchWire[] }> }>;
  readonly dryRun: boolean;
}
