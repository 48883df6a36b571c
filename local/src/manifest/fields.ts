import type { FieldError } from '../kube/types.ts';

/**
 * A small field checker that records problems with their full path instead of stopping at the first: a user fixing
 * a manifest wants every mistake in one go.
 */
export class FieldChecker {
  readonly errors: FieldError[] = [];

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }

  isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  /** Checks `v` is an object; reports and returns undefined otherwise. Absent is fine unless `required`. */
  record(field: string, v: unknown, required = false): Record<string, unknown> | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (!this.isRecord(v)) {
      this.fail(field, `must be an object, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  array(field: string, v: unknown, required = false): readonly unknown[] | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.fail(field, `must be a list, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  string(field: string, v: unknown, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.fail(field, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  integer(field: string, v: unknown, min: number, max: number): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(field, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  stringList(field: string, v: unknown): readonly string[] | undefined {
    const list = this.array(field, v);
    if (list === undefined) return undefined;
    let ok = true;
    list.forEach((item, i) => {
      if (typeof item !== 'string') {
        this.fail(`${field}[${i}]`, `must be a string, got ${describe(item)}`);
        ok = false;
      }
    });
    return ok ? (list as readonly string[]) : undefined;
  }

  /** A map of string to string (labels, annotations, selectors). YAML turns `version: 1` into a number: say so. */
  stringMap(field: string, v: unknown): Record<string, string> | undefined {
    const map = this.record(field, v);
    if (map === undefined) return undefined;
    let ok = true;
    for (const [k, val] of Object.entries(map)) {
      if (typeof val !== 'string') {
        this.fail(`${field}.${k}`, `must be a string, got ${describe(val)} (quote it in YAML)`);
        ok = false;
      }
    }
    return ok ? (map as Record<string, string>) : undefined;
  }

  oneOf(field: string, v: unknown, allowed: readonly string[]): string | undefined {
    const s = this.string(field, v);
    if (s !== undefined && !allowed.includes(s)) {
      this.fail(field, `must be one of ${allowed.join(', ')}, got "${s}"`);
      return undefined;
    }
    return s;
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 1123 label, as Kubernetes checks namespace, container and port names. */
export function isDnsLabel(s: string, maxLength = 63): boolean {
  return s.length <= maxLength && DNS_LABEL.test(s);
}

/** RFC 1123 subdomain, as Kubernetes checks most object names. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `"${v}"`;
  return `${typeof v} ${String(v)}`;
}
