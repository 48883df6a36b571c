import { FieldError } from '../fields/field-error.ts';
import { FieldReader } from '../fields/field-reader.ts';
import {
  describeResource,
  readCidr,
  readGatewayAddress,
  readNamespacedKey,
  readPortMapping,
  readServiceAccountMatch,
  readStringMatch,
} from './validate-fields.ts';
import type {
  Authorization,
  Cidr,
  Clause,
  Match,
  PortMapping,
  Rule,
  Service,
  ServiceAccountMatch,
  StringMatch,
  Workload,
} from './types.ts';

/**
 * Runtime checks that a decoded resource is well-formed, for the xDS client to NACK what it cannot use instead of
 * letting a bad address or port reach a proxy. Each returns a fresh object holding only the model's fields; each
 * throws FieldError `INVALID_RESOURCE` naming the resource and the field.
 */

const reader = (resource: string): FieldReader =>
  FieldReader.throwing(resource, (object, field, problem) => new FieldError('INVALID_RESOURCE', object, field, problem));

export function validateWorkload(value: unknown): Workload {
  const c = reader(describeResource('Workload', value, (r) => r['uid']));
  const r = c.record(value, 'workload');
  const services: Record<string, readonly PortMapping[]> = {};
  for (const [key, ports] of Object.entries(c.record(r['services'], 'services'))) {
    const field = `services[${JSON.stringify(key)}]`;
    readNamespacedKey(c, key, field);
    services[key] = c.array(ports, field).map((p, i) => readPortMapping(c, p, `${field}[${i}]`));
  }
  const base = {
    uid: c.name(r['uid'], 'uid'),
    name: c.name(r['name'], 'name'),
    namespace: c.name(r['namespace'], 'namespace'),
    addresses: c.array(r['addresses'], 'addresses').map((a, i) => c.ip(a, `addresses[${i}]`)),
    hostname: c.string(r['hostname'], 'hostname'),
    network: c.string(r['network'], 'network'),
    tunnelProtocol: c.oneOf(r['tunnelProtocol'], 'tunnelProtocol', ['NONE', 'HBONE'] as const),
    trustDomain: c.name(r['trustDomain'], 'trustDomain'),
    serviceAccount: c.name(r['serviceAccount'], 'serviceAccount'),
    node: c.string(r['node'], 'node'),
    canonicalName: c.string(r['canonicalName'], 'canonicalName'),
    canonicalRevision: c.string(r['canonicalRevision'], 'canonicalRevision'),
    workloadType: c.oneOf(r['workloadType'], 'workloadType', ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'] as const),
    workloadName: c.string(r['workloadName'], 'workloadName'),
    services,
    authorizationPolicies: c
      .array(r['authorizationPolicies'], 'authorizationPolicies')
      .map((p, i) => readNamespacedKey(c, p, `authorizationPolicies[${i}]`)),
    status: c.oneOf(r['status'], 'status', ['HEALTHY', 'UNHEALTHY'] as const),
    clusterId: c.string(r['clusterId'], 'clusterId'),
  };
  return r['waypoint'] === undefined ? base : { ...base, waypoint: readGatewayAddress(c, r['waypoint'], 'waypoint') };
}

export function validateService(value: unknown): Service {
  const c = reader(
    describeResource('Service', value, (r) =>
      typeof r['namespace'] === 'string' && typeof r['hostname'] === 'string' ? `${r['namespace']}/${r['hostname']}` : undefined,
    ),
  );
  const r = c.record(value, 'service');
  const base = {
    name: c.name(r['name'], 'name'),
    namespace: c.name(r['namespace'], 'namespace'),
    hostname: c.name(r['hostname'], 'hostname'),
    addresses: c.array(r['addresses'], 'addresses').map((a, i) => {
      const na = c.record(a, `addresses[${i}]`);
      return {
        network: c.string(na['network'], `addresses[${i}].network`),
        address: c.ip(na['address'], `addresses[${i}].address`),
      };
    }),
    ports: c.array(r['ports'], 'ports').map((p, i) => readPortMapping(c, p, `ports[${i}]`)),
    subjectAltNames: c.strings(r['subjectAltNames'], 'subjectAltNames'),
  };
  return r['waypoint'] === undefined ? base : { ...base, waypoint: readGatewayAddress(c, r['waypoint'], 'waypoint') };
}

export function validateAuthorization(value: unknown): Authorization {
  const c = reader(
    describeResource('Authorization', value, (r) =>
      typeof r['namespace'] === 'string' && typeof r['name'] === 'string' ? `${r['namespace']}/${r['name']}` : undefined,
    ),
  );
  const r = c.record(value, 'authorization');
  return {
    name: c.name(r['name'], 'name'),
    namespace: c.name(r['namespace'], 'namespace'),
    scope: c.oneOf(r['scope'], 'scope', ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'] as const),
    action: c.oneOf(r['action'], 'action', ['ALLOW', 'DENY'] as const),
    rules: c.array(r['rules'], 'rules').map((rule, i) => validateRule(c, rule, `rules[${i}]`)),
    dryRun: c.boolean(r['dryRun'], 'dryRun'),
  };
}

function validateRule(c: FieldReader, value: unknown, field: string): Rule {
  const r = c.record(value, field);
  return {
    clauses: c.array(r['clauses'], `${field}.clauses`).map((clause, i): Clause => {
      const cf = `${field}.clauses[${i}]`;
      const cr = c.record(clause, cf);
      return { matches: c.array(cr['matches'], `${cf}.matches`).map((m, j) => validateMatch(c, m, `${cf}.matches[${j}]`)) };
    }),
  };
}

function validateMatch(c: FieldReader, value: unknown, field: string): Match {
  const r = c.record(value, field);
  const list = <T>(key: string, one: (v: unknown, f: string) => T): T[] =>
    c.array(r[key], `${field}.${key}`).map((v, i) => one(v, `${field}.${key}[${i}]`));
  const stringMatch = (v: unknown, f: string): StringMatch => readStringMatch(c, v, f);
  const serviceAccount = (v: unknown, f: string): ServiceAccountMatch => readServiceAccountMatch(c, v, f);
  const cidr = (v: unknown, f: string): Cidr => readCidr(c, v, f);
  const port = (v: unknown, f: string): number => c.port(v, f, 0);
  return {
    namespaces: list('namespaces', stringMatch),
    notNamespaces: list('notNamespaces', stringMatch),
    serviceAccounts: list('serviceAccounts', serviceAccount),
    notServiceAccounts: list('notServiceAccounts', serviceAccount),
    principals: list('principals', stringMatch),
    notPrincipals: list('notPrincipals', stringMatch),
    sourceIps: list('sourceIps', cidr),
    notSourceIps: list('notSourceIps', cidr),
    destinationIps: list('destinationIps', cidr),
    notDestinationIps: list('notDestinationIps', cidr),
    destinationPorts: list('destinationPorts', port),
    notDestinationPorts: list('notDestinationPorts', port),
  };
}
