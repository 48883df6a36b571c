import { AmbitError } from './core-model.ts';

/**
 * A Kubernetes object that cannot be read. `object` is `Kind namespace/name` (as far as it could be read) and `field`
 * the JSON path of the offending field, so the builder can report it as a status/log entry instead of crashing.
 */
export class KubeObjectError extends AmbitError {
  readonly object: string;
  readonly field: string;

  constructor(object: string, field: string, problem: string) {
    super('INVALID_OBJECT', `${object}: ${field}: ${problem}`);
    this.object = object;
    this.field = field;
  }
}

/** `Kind ns/name` (or `Kind name` for cluster-scoped kinds) from whatever of the object is readable. */
export function describeObject(value: unknown): string {
  const r = isRecord(value) ? value : {};
  const kind = typeof r['kind'] === 'string' && r['kind'] !== '' ? r['kind'] : '<unknown kind>';
  const meta = isRecord(r['metadata']) ? r['metadata'] : {};
  const name = typeof meta['name'] === 'string' && meta['name'] !== '' ? meta['name'] : '<unnamed>';
  const ns = typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? `${meta['namespace']}/` : '';
  return `${kind} ${ns}${name}`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Narrowing helpers bound to one object, each taking the value and its JSON path. Absent means `undefined` or `null`
 * (JSON from the API server uses both); the `opt*` forms return a default for absent values and throw for values of
 * the wrong type, because a wrong type means the object is not what we think it is.
 */
export class FieldReader {
  constructor(readonly object: string) {}

  fail(field: string, problem: string): never {
    throw new KubeObjectError(this.object, field, problem);
  }

  record(value: unknown, field: string): Record<string, unknown> {
    if (!isRecord(value)) return this.fail(field, 'must be an object');
    return value;
  }

  optRecord(value: unknown, field: string): Record<string, unknown> | undefined {
    return value === undefined || value === null ? undefined : this.record(value, field);
  }

  optArray(value: unknown, field: string): readonly unknown[] {
    if (value === undefined || value === null) return [];
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

  optString(value: unknown, field: string): string | undefined {
    return value === undefined || value === null ? undefined : this.string(value, field);
  }

  optBoolean(value: unknown, field: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') return this.fail(field, 'must be a boolean');
    return value;
  }

  port(value: unknown, field: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
      return this.fail(field, 'must be an integer port 1..65535');
    }
    return value;
  }

  /** Kubernetes IntOrString for ports: a port number or an IANA_SVC_NAME. */
  optIntOrString(value: unknown, field: string): number | string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') {
      // The API server sends `"8080"` for a YAML-quoted number; Kubernetes treats that as the number.
      return /^\d+$/.test(value) ? this.port(Number(value), field) : this.name(value, field);
    }
    return this.port(value, field);
  }

  optStrings(value: unknown, field: string): readonly string[] {
    return this.optArray(value, field).map((v, i) => this.string(v, `${field}[${i}]`));
  }

  /** labels, annotations, selectors: string → string. */
  optStringMap(value: unknown, field: string): Readonly<Record<string, string>> {
    const r = this.optRecord(value, field);
    if (r === undefined) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) out[k] = this.string(v, `${field}[${k}]`);
    return out;
  }
}
