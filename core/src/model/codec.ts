/**
 * The wire codec of the mesh model: domain types (types.ts) <-> Istio's protobuf messages (proto/workload.proto,
 * proto/authorization.proto), with Istio's conventions: IPs as 4/16 raw bytes, trust_domain elided when it is the
 * default and service_account when it is "default" (decode restores both). Decoding is the edge where untrusted bytes
 * become domain objects (STYLE rule 4): anything that does not parse, or parses into a value the model cannot hold,
 * throws a WireCodecError naming the resource and field; the xDS client turns that into a NACK.
 */
import { AmbitError, errorMessage } from '../errors.ts';
import { bytesToIp, ipToBytes } from '../proto/ip-bytes.ts';
import { protoTypes } from '../proto/load.ts';
import { validateAuthorization, validateService, validateWorkload } from './validate.ts';
import type {
  AddressWire,
  AuthorizationWire,
  CidrWire,
  GatewayAddressWire,
  MatchWire,
  PortWire,
  ServiceAccountMatchWire,
  ServiceWire,
  StringMatchWire,
  WorkloadWire,
} from '../proto/wds-wire.ts';
import {
  DEFAULT_TRUST_DOMAIN,
  type AppProtocol,
  type Authorization,
  type AuthorizationAction,
  type AuthorizationScope,
  type Cidr,
  type GatewayAddress,
  type HealthStatus,
  type Match,
  type PortMapping,
  type Service,
  type ServiceAccountMatch,
  type StringMatch,
  type TunnelProtocol,
  type Workload,
  type WorkloadType,
} from './types.ts';

/** A resource that could not be encoded or decoded. `code` is stable; the message names the resource and field. */
export class WireCodecError extends AmbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MALFORMED_RESOURCE', message, options);
  }
}

/**
 * A bad value inside a resource, raised where it is found and prefixed with each enclosing field on the way out; the
 * codec's entry points wrap it in a WireCodecError that names the resource.
 */
class WireFieldError extends AmbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MALFORMED_FIELD', message, options);
  }
}

export type AddressResource = { readonly workload: Workload } | { readonly service: Service };

/** Istio elides a service account of "default" on the wire. */
const DEFAULT_SERVICE_ACCOUNT = 'default';
const MAX_PORT = 65_535;

const TO_OBJECT = { enums: String, longs: Number, defaults: true, arrays: true, objects: true, oneofs: true } as const;

const TUNNEL_PROTOCOLS: readonly TunnelProtocol[] = ['NONE', 'HBONE'];
const WORKLOAD_TYPES: readonly WorkloadType[] = ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'];
const HEALTH_STATUSES: readonly HealthStatus[] = ['HEALTHY', 'UNHEALTHY'];
const APP_PROTOCOLS: readonly AppProtocol[] = ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'];
const SCOPES: readonly AuthorizationScope[] = ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'];
const ACTIONS: readonly AuthorizationAction[] = ['ALLOW', 'DENY'];

// ---------------------------------------------------------------------------------------------------------------
// Encode

export function encodeAddress(x: AddressResource): Uint8Array {
  const what =
    'workload' in x
      ? `workload ${JSON.stringify(x.workload.uid)}`
      : `service ${JSON.stringify(`${x.service.namespace}/${x.service.hostname}`)}`;
  return encodeWith(`istio.workload.Address ${what}`, () => {
    const body = 'workload' in x ? { workload: workloadToWire(x.workload) } : { service: serviceToWire(x.service) };
    return protoTypes.Address.encode(protoTypes.Address.fromObject(body)).finish();
  });
}

export function encodeAuthorization(a: Authorization): Uint8Array {
  return encodeWith(`istio.security.Authorization ${JSON.stringify(`${a.namespace}/${a.name}`)}`, () => {
    const body = {
      name: a.name,
      namespace: a.namespace,
      scope: a.scope,
      action: a.action,
      rules: a.rules.map((r) => ({ clauses: r.clauses.map((c) => ({ matches: c.matches.map(matchToWire) })) })),
      dryRun: a.dryRun,
    };
    return protoTypes.Authorization.encode(protoTypes.Authorization.fromObject(body)).finish();
  });
}

function encodeWith(what: string, fn: () => Uint8Array): Uint8Array {
  try {
    return fn();
  } catch (err) {
    throw new WireCodecError(`cannot encode ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

function workloadToWire(w: Workload): Record<string, unknown> {
  // Sorted so equal workloads encode to equal bytes: the xDS version is a hash of the bytes.
  const services: Record<string, unknown> = {};
  for (const key of Object.keys(w.services).sort()) {
    services[key] = { ports: (w.services[key] ?? []).map(portToWire) };
  }
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map((a, i) => at(`addresses[${i}]`, () => ipToBytes(a))),
    hostname: w.hostname,
    network: w.network,
    tunnelProtocol: w.tunnelProtocol,
    // Left out, not written empty: protobufjs writes an explicitly set '' and Istio's point is to save the bytes.
    ...(w.trustDomain === DEFAULT_TRUST_DOMAIN ? {} : { trustDomain: w.trustDomain }),
    ...(w.serviceAccount === DEFAULT_SERVICE_ACCOUNT ? {} : { serviceAccount: w.serviceAccount }),
    ...(w.waypoint ? { waypoint: at('waypoint', () => gatewayToWire(w.waypoint as GatewayAddress)) } : {}),
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: w.workloadType,
    workloadName: w.workloadName,
    services,
    authorizationPolicies: [...w.authorizationPolicies],
    status: w.status,
    clusterId: w.clusterId,
  };
}

function serviceToWire(s: Service): Record<string, unknown> {
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: s.addresses.map((a, i) => at(`addresses[${i}]`, () => ({ network: a.network, address: ipToBytes(a.address) }))),
    ports: s.ports.map(portToWire),
    subjectAltNames: [...s.subjectAltNames],
    ...(s.waypoint ? { waypoint: at('waypoint', () => gatewayToWire(s.waypoint as GatewayAddress)) } : {}),
  };
}

function portToWire(p: PortMapping): Record<string, unknown> {
  return { servicePort: p.servicePort, targetPort: p.targetPort, appProtocol: p.appProtocol };
}

function gatewayToWire(g: GatewayAddress): Record<string, unknown> {
  const d = g.destination;
  const destination =
    d.kind === 'hostname'
      ? { hostname: { namespace: d.namespace, hostname: d.hostname } }
      : { address: { network: d.network, address: ipToBytes(d.address) } };
  return { ...destination, hboneMtlsPort: g.hboneMtlsPort };
}

function matchToWire(m: Match): Record<string, unknown> {
  const sm = (xs: readonly StringMatch[]) => xs.map(stringMatchToWire);
  const sa = (xs: readonly ServiceAccountMatch[]) => xs.map((x) => ({ namespace: x.namespace, serviceAccount: x.serviceAccount }));
  const cidr = (field: string, xs: readonly Cidr[]) =>
    xs.map((c, i) => at(`${field}[${i}]`, () => ({ address: ipToBytes(c.address), length: c.length })));
  return {
    namespaces: sm(m.namespaces),
    notNamespaces: sm(m.notNamespaces),
    serviceAccounts: sa(m.serviceAccounts),
    notServiceAccounts: sa(m.notServiceAccounts),
    principals: sm(m.principals),
    notPrincipals: sm(m.notPrincipals),
    sourceIps: cidr('sourceIps', m.sourceIps),
    notSourceIps: cidr('notSourceIps', m.notSourceIps),
    destinationIps: cidr('destinationIps', m.destinationIps),
    notDestinationIps: cidr('notDestinationIps', m.notDestinationIps),
    destinationPorts: [...m.destinationPorts],
    notDestinationPorts: [...m.notDestinationPorts],
  };
}

function stringMatchToWire(s: StringMatch): Record<string, unknown> {
  if ('exact' in s) return { exact: s.exact };
  if ('prefix' in s) return { prefix: s.prefix };
  if ('suffix' in s) return { suffix: s.suffix };
  return { presence: {} };
}

// ---------------------------------------------------------------------------------------------------------------
// Decode

export function decodeAddress(bytes: Uint8Array): AddressResource {
  const wire = decodeWith<AddressWire>('istio.workload.Address', () =>
    protoTypes.Address.toObject(protoTypes.Address.decode(bytes), TO_OBJECT),
  );
  if (wire.type === 'workload' && wire.workload) {
    const w = wire.workload;
    return { workload: decodeWith(`istio.workload.Address workload ${JSON.stringify(w.uid)}`, () => workloadFromWire(w)) };
  }
  if (wire.type === 'service' && wire.service) {
    const s = wire.service;
    return {
      service: decodeWith(`istio.workload.Address service ${JSON.stringify(`${s.namespace}/${s.hostname}`)}`, () => serviceFromWire(s)),
    };
  }
  throw new WireCodecError('invalid istio.workload.Address: neither workload nor service is set');
}

export function decodeAuthorization(bytes: Uint8Array): Authorization {
  const wire = decodeWith<AuthorizationWire>('istio.security.Authorization', () =>
    protoTypes.Authorization.toObject(protoTypes.Authorization.decode(bytes), TO_OBJECT),
  );
  return decodeWith(`istio.security.Authorization ${JSON.stringify(`${wire.namespace}/${wire.name}`)}`, () => {
    nonEmpty('name', wire.name);
    return {
      name: wire.name,
      namespace: wire.namespace,
      scope: oneOf('scope', wire.scope, SCOPES),
      action: oneOf('action', wire.action, ACTIONS),
      rules: wire.rules.map((r, ri) => ({
        clauses: r.clauses.map((c, ci) => ({
          matches: c.matches.map((m, mi) => at(`rules[${ri}].clauses[${ci}].matches[${mi}]`, () => matchFromWire(m))),
        })),
      })),
      dryRun: wire.dryRun,
    };
  });
}

/**
 * Runs one decoding step; any failure becomes a WireCodecError prefixed with what was being decoded. The cast is
 * sound: protobufjs only produces values of the schema's types, in the shape wds-wire.ts describes.
 */
function decodeWith<T>(what: string, fn: () => unknown): T {
  try {
    return fn() as T;
  } catch (err) {
    if (err instanceof WireCodecError) throw err;
    throw new WireCodecError(`invalid ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Prefixes an error with the field path, so the final message reads `…: addresses[1]: not an IP address`. */
function at<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new WireFieldError(`${field}: ${errorMessage(err)}`, { cause: err });
  }
}

function workloadFromWire(w: WorkloadWire): Workload {
  nonEmpty('uid', w.uid);
  const services: Record<string, readonly PortMapping[]> = {};
  for (const [key, list] of Object.entries(w.services)) {
    services[key] = list.ports.map((p, i) => at(`services[${JSON.stringify(key)}].ports[${i}]`, () => portFromWire(p)));
  }
  const waypoint = w.waypoint ? at('waypoint', () => gatewayFromWire(w.waypoint as GatewayAddressWire)) : undefined;
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map((a, i) => at(`addresses[${i}]`, () => bytesToIp(a))),
    hostname: w.hostname,
    network: w.network,
    tunnelProtocol: oneOf('tunnelProtocol', w.tunnelProtocol, TUNNEL_PROTOCOLS),
    trustDomain: w.trustDomain === '' ? DEFAULT_TRUST_DOMAIN : w.trustDomain,
    serviceAccount: w.serviceAccount === '' ? DEFAULT_SERVICE_ACCOUNT : w.serviceAccount,
    ...(waypoint ? { waypoint } : {}),
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: oneOf('workloadType', w.workloadType, WORKLOAD_TYPES),
    workloadName: w.workloadName,
    services,
    authorizationPolicies: w.authorizationPolicies,
    status: oneOf('status', w.status, HEALTH_STATUSES),
    clusterId: w.clusterId,
  };
}

function serviceFromWire(s: ServiceWire): Service {
  nonEmpty('hostname', s.hostname);
  const waypoint = s.waypoint ? at('waypoint', () => gatewayFromWire(s.waypoint as GatewayAddressWire)) : undefined;
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: s.addresses.map((a, i) => at(`addresses[${i}]`, () => ({ network: a.network, address: bytesToIp(a.address) }))),
    ports: s.ports.map((p, i) => at(`ports[${i}]`, () => portFromWire(p))),
    subjectAltNames: s.subjectAltNames,
    ...(waypoint ? { waypoint } : {}),
  };
}

function portFromWire(p: PortWire): PortMapping {
  return {
    servicePort: port('servicePort', p.servicePort),
    targetPort: port('targetPort', p.targetPort),
    appProtocol: oneOf('appProtocol', p.appProtocol, APP_PROTOCOLS),
  };
}

function gatewayFromWire(g: GatewayAddressWire): GatewayAddress {
  const hboneMtlsPort = port('hboneMtlsPort', g.hboneMtlsPort);
  if (g.destination === 'hostname' && g.hostname) {
    return { destination: { kind: 'hostname', namespace: g.hostname.namespace, hostname: g.hostname.hostname }, hboneMtlsPort };
  }
  if (g.destination === 'address' && g.address) {
    const a = g.address;
    return { destination: { kind: 'address', network: a.network, address: at('address', () => bytesToIp(a.address)) }, hboneMtlsPort };
  }
  throw new WireFieldError('neither hostname nor address is set');
}

function matchFromWire(m: MatchWire): Match {
  const sm = (field: string, xs: readonly StringMatchWire[]) => xs.map((x, i) => at(`${field}[${i}]`, () => stringMatchFromWire(x)));
  const sa = (xs: readonly ServiceAccountMatchWire[]): ServiceAccountMatch[] =>
    xs.map((x) => ({ namespace: x.namespace, serviceAccount: x.serviceAccount }));
  const cidr = (field: string, xs: readonly CidrWire[]) => xs.map((c, i) => at(`${field}[${i}]`, () => cidrFromWire(c)));
  return {
    namespaces: sm('namespaces', m.namespaces),
    notNamespaces: sm('notNamespaces', m.notNamespaces),
    serviceAccounts: sa(m.serviceAccounts),
    notServiceAccounts: sa(m.notServiceAccounts),
    principals: sm('principals', m.principals),
    notPrincipals: sm('notPrincipals', m.notPrincipals),
    sourceIps: cidr('sourceIps', m.sourceIps),
    notSourceIps: cidr('notSourceIps', m.notSourceIps),
    destinationIps: cidr('destinationIps', m.destinationIps),
    notDestinationIps: cidr('notDestinationIps', m.notDestinationIps),
    destinationPorts: m.destinationPorts.map((p, i) => port(`destinationPorts[${i}]`, p)),
    notDestinationPorts: m.notDestinationPorts.map((p, i) => port(`notDestinationPorts[${i}]`, p)),
  };
}

function stringMatchFromWire(s: StringMatchWire): StringMatch {
  switch (s.matchType) {
    case 'exact':
      return { exact: s.exact ?? '' };
    case 'prefix':
      return { prefix: s.prefix ?? '' };
    case 'suffix':
      return { suffix: s.suffix ?? '' };
    case 'presence':
      return { presence: true };
    default:
      throw new WireFieldError('no match_type is set');
  }
}

function cidrFromWire(c: CidrWire): Cidr {
  const address = bytesToIp(c.address);
  const max = c.address.length * 8;
  if (c.length > max) throw new WireFieldError(`prefix length ${c.length} exceeds ${max}`);
  return { address, length: c.length };
}

function oneOf<T extends string>(field: string, value: string | number, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new WireFieldError(`${field}: unsupported value ${JSON.stringify(value)}`);
  return found;
}

function port(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PORT) throw new WireFieldError(`${field}: ${value} is not a port`);
  return value;
}

function nonEmpty(field: string, value: string): void {
  if (value === '') throw new WireFieldError(`${field} is empty`);
}

/**
 * What a proxy accepts from xDS: the resource decoded and then validated (validate.ts), so a bad resource throws an
 * error naming it and its field, and the xDS client NACKs the response.
 */
export function decodeCheckedAddress(bytes: Uint8Array): AddressResource {
  const a = decodeAddress(bytes);
  return 'workload' in a ? { workload: validateWorkload(a.workload) } : { service: validateService(a.service) };
}

export function decodeCheckedAuthorization(bytes: Uint8Array): Authorization {
  return validateAuthorization(decodeAuthorization(bytes));
}
