/**
 * The xDS body of an L7 authorization (L7_AUTHORIZATION_TYPE_URL): UTF-8 JSON of the L7Authorization. Decoding is the
 * edge where the controller's bytes become the waypoint's domain objects (STYLE rule 4): every field is checked and
 * anything the waypoint could not enforce exactly throws a FieldError (code `MALFORMED_RESOURCE`) naming the resource
 * and the field, which the xDS client turns into a NACK — the waypoint keeps its last good policies.
 */
import { errorMessage } from '../errors.ts';
import { FieldError } from '../fields/field-error.ts';
import { FieldReader } from '../fields/field-reader.ts';
import type { Cidr, ServiceAccountMatch, StringMatch } from '../model/types.ts';
import { readCidr, readServiceAccountMatch, readStringMatch } from '../model/validate-fields.ts';
import {
  l7AuthorizationKey,
  type L7Authorization,
  type L7Condition,
  type L7Operation,
  type L7Rule,
  type L7Source,
  type L7Target,
} from './l7-types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The xDS body of an L7 authorization: UTF-8 JSON (see L7_AUTHORIZATION_TYPE_URL). */
export function encodeL7Authorization(p: L7Authorization): Uint8Array {
  return encoder.encode(JSON.stringify(p));
}

/** RFC 9110 token: a header name (lower-case here, as L7Condition says). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * The L7Authorization in resource `name`'s body, checked field by field; throws FieldError `MALFORMED_RESOURCE`
 * naming the resource and field. The policy must be the one the resource name says (l7AuthorizationKey).
 */
export function decodeL7Authorization(name: string, bytes: Uint8Array): L7Authorization {
  const c = FieldReader.throwing(`L7Authorization ${JSON.stringify(name)}`, (o, f, p) => new FieldError('MALFORMED_RESOURCE', o, f, p));
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    return c.fail('(body)', `is not UTF-8 JSON: ${errorMessage(err)}`);
  }
  const r = c.record(json, '(body)');
  const policy = {
    name: c.name(r['name'], 'name'),
    namespace: c.name(r['namespace'], 'namespace'),
    action: c.oneOf(r['action'], 'action', ['ALLOW', 'DENY'] as const),
    dryRun: c.boolean(r['dryRun'], 'dryRun'),
    targets: c.array(r['targets'], 'targets').map((t, i) => readTarget(c, t, `targets[${i}]`)),
    rules: c.array(r['rules'], 'rules').map((x, i) => readRule(c, x, `rules[${i}]`)),
  };
  const key = l7AuthorizationKey(policy);
  if (key !== name) c.fail('name', `names ${JSON.stringify(key)}, not the resource's policy`);
  if (policy.targets.length === 0) c.fail('targets', 'must not be empty');
  return policy;
}

function readTarget(c: FieldReader, value: unknown, field: string): L7Target {
  const r = c.record(value, field);
  const kind = c.oneOf(r['kind'], `${field}.kind`, ['Gateway', 'Service'] as const);
  const namespace = c.name(r['namespace'], `${field}.namespace`);
  if (kind === 'Gateway') return { kind, namespace, name: c.name(r['name'], `${field}.name`) };
  return { kind, namespace, hostname: lowerCase(c, r['hostname'], `${field}.hostname`) };
}

function readRule(c: FieldReader, value: unknown, field: string): L7Rule {
  const r = c.record(value, field);
  return {
    from: c.array(r['from'], `${field}.from`).map((x, i) => readSource(c, x, `${field}.from[${i}]`)),
    to: c.array(r['to'], `${field}.to`).map((x, i) => readOperation(c, x, `${field}.to[${i}]`)),
    when: c.array(r['when'], `${field}.when`).map((x, i) => readCondition(c, x, `${field}.when[${i}]`)),
  };
}

type Read<T> = (c: FieldReader, value: unknown, field: string) => T;

function list<T>(c: FieldReader, r: Record<string, unknown>, key: string, field: string, one: Read<T>): T[] {
  return c.array(r[key], `${field}.${key}`).map((v, i) => one(c, v, `${field}.${key}[${i}]`));
}

const stringMatch: Read<StringMatch> = readStringMatch;
const cidr: Read<Cidr> = readCidr;
const serviceAccount: Read<ServiceAccountMatch> = readServiceAccountMatch;
const port: Read<number> = (c, v, f) => c.port(v, f);

/** Hosts are compared lower-case: a value with upper case would never match, so it is refused rather than kept. */
const hostMatch: Read<StringMatch> = (c, v, f) => {
  const m = readStringMatch(c, v, f);
  const text = 'exact' in m ? m.exact : 'prefix' in m ? m.prefix : 'suffix' in m ? m.suffix : '';
  if (text !== text.toLowerCase()) c.fail(f, 'must be lower-case');
  return m;
};

function readSource(c: FieldReader, value: unknown, field: string): L7Source {
  const r = c.record(value, field);
  return {
    principals: list(c, r, 'principals', field, stringMatch),
    notPrincipals: list(c, r, 'notPrincipals', field, stringMatch),
    namespaces: list(c, r, 'namespaces', field, stringMatch),
    notNamespaces: list(c, r, 'notNamespaces', field, stringMatch),
    serviceAccounts: list(c, r, 'serviceAccounts', field, serviceAccount),
    notServiceAccounts: list(c, r, 'notServiceAccounts', field, serviceAccount),
    ipBlocks: list(c, r, 'ipBlocks', field, cidr),
    notIpBlocks: list(c, r, 'notIpBlocks', field, cidr),
    remoteIpBlocks: list(c, r, 'remoteIpBlocks', field, cidr),
    notRemoteIpBlocks: list(c, r, 'notRemoteIpBlocks', field, cidr),
  };
}

function readOperation(c: FieldReader, value: unknown, field: string): L7Operation {
  const r = c.record(value, field);
  return {
    hosts: list(c, r, 'hosts', field, hostMatch),
    notHosts: list(c, r, 'notHosts', field, hostMatch),
    ports: list(c, r, 'ports', field, port),
    notPorts: list(c, r, 'notPorts', field, port),
    methods: list(c, r, 'methods', field, stringMatch),
    notMethods: list(c, r, 'notMethods', field, stringMatch),
    paths: list(c, r, 'paths', field, stringMatch),
    notPaths: list(c, r, 'notPaths', field, stringMatch),
  };
}

function readCondition(c: FieldReader, value: unknown, field: string): L7Condition {
  const r = c.record(value, field);
  const key = c.oneOf(r['key'], `${field}.key`, [
    'request.headers',
    'source.ip',
    'remote.ip',
    'source.namespace',
    'source.principal',
    'connection.sni',
    'destination.port',
  ] as const);
  const both = <T>(one: Read<T>): { values: T[]; notValues: T[] } => {
    const values = list(c, r, 'values', field, one);
    const notValues = list(c, r, 'notValues', field, one);
    if (values.length + notValues.length === 0) c.fail(field, 'must have values or notValues');
    return { values, notValues };
  };
  switch (key) {
    case 'request.headers': {
      const header = c.name(r['header'], `${field}.header`);
      if (!HEADER_NAME.test(header)) c.fail(`${field}.header`, `${JSON.stringify(header)} is not a lower-case header name`);
      return { key, header, ...both(stringMatch) };
    }
    case 'source.ip':
    case 'remote.ip':
      return { key, ...both(cidr) };
    case 'destination.port':
      return { key, ...both(port) };
    default:
      return { key, ...both(stringMatch) };
  }
}

function lowerCase(c: FieldReader, value: unknown, field: string): string {
  const s = c.name(value, field);
  if (s !== s.toLowerCase()) c.fail(field, 'must be lower-case');
  return s;
}
