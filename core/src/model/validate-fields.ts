import { describeValue, type FieldReader } from '../fields/field-reader.ts';
import { isRecord } from '../fields/is-record.ts';
import { maxPrefixLength } from './cidr.ts';
import type { Cidr, GatewayAddress, PortMapping, ServiceAccountMatch, StringMatch } from './types.ts';

/**
 * Reads of the model's compound fields for validate.ts, on the shared FieldReader (which names the resource and the
 * field path, `services["ns/h"][0].targetPort`, so an xDS NACK tells the control plane exactly what it sent wrong).
 */

/** `namespace/name`-shaped keys (service keys, authorization keys): both halves non-empty. */
export function readNamespacedKey(r: FieldReader, value: unknown, field: string): string {
  const s = r.string(value, field);
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) return r.fail(field, `${describeValue(s)} is not <namespace>/<name>`);
  return s;
}

export function readCidr(r: FieldReader, value: unknown, field: string): Cidr {
  const c = r.record(value, field);
  const address = r.ip(c['address'], `${field}.address`);
  return { address, length: r.integer(c['length'], `${field}.length`, 0, maxPrefixLength(address)) };
}

/** `{exact}`, `{prefix}`, `{suffix}` or `{presence: true}`: exactly one form. */
export function readStringMatch(c: FieldReader, value: unknown, field: string): StringMatch {
  const r = c.record(value, field);
  const forms = (['exact', 'prefix', 'suffix', 'presence'] as const).filter((k) => r[k] !== undefined);
  if (forms.length !== 1) return c.fail(field, 'must have exactly one of exact, prefix, suffix, presence');
  const [form] = forms;
  switch (form) {
    case 'exact':
      return { exact: c.string(r['exact'], `${field}.exact`) };
    case 'prefix':
      return { prefix: c.string(r['prefix'], `${field}.prefix`) };
    case 'suffix':
      return { suffix: c.string(r['suffix'], `${field}.suffix`) };
    default:
      if (r['presence'] !== true) return c.fail(`${field}.presence`, 'must be true');
      return { presence: true };
  }
}

export function readServiceAccountMatch(c: FieldReader, value: unknown, field: string): ServiceAccountMatch {
  const sa = c.record(value, field);
  return {
    namespace: c.name(sa['namespace'], `${field}.namespace`),
    serviceAccount: c.name(sa['serviceAccount'], `${field}.serviceAccount`),
  };
}

export function readPortMapping(r: FieldReader, value: unknown, field: string): PortMapping {
  const p = r.record(value, field);
  return {
    servicePort: r.port(p['servicePort'], `${field}.servicePort`, 0),
    targetPort: r.port(p['targetPort'], `${field}.targetPort`, 0),
    appProtocol: r.oneOf(p['appProtocol'], `${field}.appProtocol`, ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'] as const),
  };
}

export function readGatewayAddress(r: FieldReader, value: unknown, field: string): GatewayAddress {
  const g = r.record(value, field);
  const d = r.record(g['destination'], `${field}.destination`);
  const kind = r.oneOf(d['kind'], `${field}.destination.kind`, ['hostname', 'address'] as const);
  const hboneMtlsPort = r.port(g['hboneMtlsPort'], `${field}.hboneMtlsPort`, 0);
  if (kind === 'hostname') {
    return {
      destination: {
        kind,
        namespace: r.name(d['namespace'], `${field}.destination.namespace`),
        hostname: r.name(d['hostname'], `${field}.destination.hostname`),
      },
      hboneMtlsPort,
    };
  }
  return {
    destination: {
      kind,
      network: r.string(d['network'], `${field}.destination.network`),
      address: r.ip(d['address'], `${field}.destination.address`),
    },
    hboneMtlsPort,
  };
}

/** A label for error messages, read before the resource is known to be well-formed. */
export function describeResource(kind: string, value: unknown, keyOf: (r: Record<string, unknown>) => unknown): string {
  if (!isRecord(value)) return `${kind} <not an object>`;
  const key = keyOf(value);
  return typeof key === 'string' && key !== '' ? `${kind} ${key}` : `${kind} <unnamed>`;
}
