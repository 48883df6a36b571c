import { isIP } from 'node:net';
import { AmbitError } from '../errors.ts';
import { maxPrefixLength } from './cidr.ts';
import type { Cidr, GatewayAddress, PortMapping } from './types.ts';

/**
 * Field checks for validate.ts. Every failure throws AmbitError `INVALID_RESOURCE` whose message names the resource
 * (`Workload Kubernetes//Pod/ns/a`) and the field path (`services["ns/h"][0].targetPort`), so an xDS NACK tells the
 * control plane exactly what it sent wrong.
 */
export class FieldChecker {
  constructor(private readonly resource: string) {}

  fail(field: string, problem: string): never {
    throw new AmbitError('INVALID_RESOURCE', `${this.resource}: ${field}: ${problem}`);
  }

  record(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(field, 'must be an object');
    return value as Record<string, unknown>;
  }

  array(value: unknown, field: string): readonly unknown[] {
    if (!Array.isArray(value)) return this.fail(field, 'must be an array');
    return value;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string') return this.fail(field, 'must be a string');
    return value;
  }

  name(value: unknown, field: string): string {
    const s = this.string(value, field);
    if (s === '') return this.fail(field, 'must not be empty');
    return s;
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') return this.fail(field, 'must be a boolean');
    return value;
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      return this.fail(field, `must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  port(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
      return this.fail(field, 'must be an integer port 0..65535');
    }
    return value;
  }

  ip(value: unknown, field: string): string {
    const s = this.string(value, field);
    if (isIP(s) === 0) return this.fail(field, `${JSON.stringify(s)} is not an IP address`);
    return s;
  }

  strings(value: unknown, field: string): string[] {
    return this.array(value, field).map((v, i) => this.string(v, `${field}[${i}]`));
  }

  /** `namespace/name`-shaped keys (service keys, authorization keys): both halves non-empty. */
  namespacedKey(value: unknown, field: string): string {
    const s = this.string(value, field);
    const slash = s.indexOf('/');
    if (slash <= 0 || slash === s.length - 1) return this.fail(field, `${JSON.stringify(s)} is not <namespace>/<name>`);
    return s;
  }

  cidr(value: unknown, field: string): Cidr {
    const r = this.record(value, field);
    const address = this.ip(r['address'], `${field}.address`);
    const length = r['length'];
    const max = maxPrefixLength(address);
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > max) {
      return this.fail(`${field}.length`, `must be an integer 0..${max}`);
    }
    return { address, length };
  }

  portMapping(value: unknown, field: string): PortMapping {
    const r = this.record(value, field);
    return {
      servicePort: this.port(r['servicePort'], `${field}.servicePort`),
      targetPort: this.port(r['targetPort'], `${field}.targetPort`),
      appProtocol: this.oneOf(r['appProtocol'], `${field}.appProtocol`, [
        'UNKNOWN',
        'HTTP11',
        'HTTP2',
        'GRPC',
        'TCP',
        'TLS',
      ] as const),
    };
  }

  gatewayAddress(value: unknown, field: string): GatewayAddress {
    const r = this.record(value, field);
    const d = this.record(r['destination'], `${field}.destination`);
    const kind = this.oneOf(d['kind'], `${field}.destination.kind`, ['hostname', 'address'] as const);
    const hboneMtlsPort = this.port(r['hboneMtlsPort'], `${field}.hboneMtlsPort`);
    if (kind === 'hostname') {
      return {
        destination: {
          kind,
          namespace: this.name(d['namespace'], `${field}.destination.namespace`),
          hostname: this.name(d['hostname'], `${field}.destination.hostname`),
        },
        hboneMtlsPort,
      };
    }
    return {
      destination: {
        kind,
        network: this.string(d['network'], `${field}.destination.network`),
        address: this.ip(d['address'], `${field}.destination.address`),
      },
      hboneMtlsPort,
    };
  }
}

/** A label for error messages, read before the resource is known to be well-formed. */
export function describeResource(kind: string, value: unknown, keyOf: (r: Record<string, unknown>) => unknown): string {
  if (typeof value !== 'object' || value === null) return `${kind} <not an object>`;
  const key = keyOf(value as Record<string, unknown>);
  return typeof key === 'string' && key !== '' ? `${kind} ${key}` : `${kind} <unnamed>`;
}
