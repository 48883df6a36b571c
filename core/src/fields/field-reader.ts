import { isIP } from 'node:net';
import { FieldError } from './field-error.ts';
import { isRecord } from './is-record.ts';

/** One bad field, as a collecting reader records it (and as Kubernetes reports `details.causes[]`). */
export interface FieldProblem {
  /** JSON path with indices, e.g. `spec.containers[0].command`. */
  readonly field: string;
  readonly message: string;
}

/** Makes the error a throwing reader throws; `object` is the reader's, `field` and `problem` the failed read's. */
export type FieldErrorFactory = (object: string, field: string, problem: string) => FieldError;

/** Long strings are cut in messages: they end up in logs, xDS NACKs and API statuses. */
const MAX_SHOWN_CHARS = 80;

/** A value as problems describe it: `"web"`, `number 8080`, `a list`, `an object`, `null`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    return value.length > MAX_SHOWN_CHARS
      ? `${JSON.stringify(value.slice(0, MAX_SHOWN_CHARS))}… (${value.length} chars)`
      : JSON.stringify(value);
  }
  return `${typeof value} ${String(value)}`;
}

const absent = (value: unknown): value is undefined | null => value === undefined || value === null;

/**
 * The one reader of untrusted JSON fields (Kubernetes objects, xDS resources, manifests): each read takes the value
 * and its JSON path, and returns the value narrowed, or reports a problem naming the path. A problem reads
 * `must be <what>, got <value>` for a value of the wrong shape and `required (must be <what>)` for a missing one;
 * `null` counts as missing, as in the JSON the API server sends. The `opt*` reads accept a missing value (returning
 * `undefined`, or an empty list or map where Kubernetes omits empty ones).
 *
 * Two modes, chosen at construction:
 * - `FieldReader.throwing(object)`: the first problem throws a FieldError naming the object and field. Reads return
 *   their value type (`Miss` is `never`).
 * - `FieldReader.collecting()`: every problem is recorded in `problems` and reading goes on, because a user fixing a
 *   manifest wants every mistake at once. A read that failed returns `undefined` (`Miss`); a list or map with one bad
 *   entry fails as a whole (each bad entry is reported).
 */
export class FieldReader<Miss extends undefined = never> {
  /** What a collecting reader found wrong, in reading order; always empty for a throwing reader. */
  readonly problems: FieldProblem[] = [];
  readonly object: string;
  readonly #toError: FieldErrorFactory | undefined;

  private constructor(object: string, toError: FieldErrorFactory | undefined) {
    this.object = object;
    this.#toError = toError;
  }

  /** A reader that throws at the first problem; `toError` defaults to a FieldError with code `INVALID_FIELD`. */
  static throwing(object: string, toError: FieldErrorFactory = (o, f, p) => new FieldError('INVALID_FIELD', o, f, p)): FieldReader<never> {
    return new FieldReader<never>(object, toError);
  }

  /** A reader that records every problem and goes on; `object` (default none) only labels it. */
  static collecting(object = ''): FieldReader<undefined> {
    return new FieldReader<undefined>(object, undefined);
  }

  /** Reports `problem` at `field`: throws, or records it and returns `undefined`. */
  fail(field: string, problem: string): Miss {
    if (this.#toError !== undefined) throw this.#toError(this.object, field, problem);
    this.problems.push({ field, message: problem });
    return this.#missed();
  }

  /** Fails with `must be <expected>, got <value>`, or `required (must be <expected>)` when the value is missing. */
  mismatch(value: unknown, field: string, expected: string): Miss {
    return this.fail(field, absent(value) ? `required (must be ${expected})` : `must be ${expected}, got ${describeValue(value)}`);
  }

  record(value: unknown, field: string): Record<string, unknown> | Miss {
    return isRecord(value) ? value : this.mismatch(value, field, 'an object');
  }

  optRecord(value: unknown, field: string): Record<string, unknown> | undefined {
    return absent(value) ? undefined : this.record(value, field);
  }

  array(value: unknown, field: string): readonly unknown[] | Miss {
    return Array.isArray(value) ? value : this.mismatch(value, field, 'a list');
  }

  /** Missing reads as an empty list (Kubernetes omits empty lists). */
  optArray(value: unknown, field: string): readonly unknown[] | Miss {
    return absent(value) ? [] : this.array(value, field);
  }

  string(value: unknown, field: string): string | Miss {
    return typeof value === 'string' ? value : this.mismatch(value, field, 'a string');
  }

  optString(value: unknown, field: string): string | undefined {
    return absent(value) ? undefined : this.string(value, field);
  }

  /** A non-empty string (names, uids, keys). */
  name(value: unknown, field: string): string | Miss {
    const s = this.string(value, field);
    if (s === '') return this.fail(field, 'must not be empty');
    return s;
  }

  boolean(value: unknown, field: string): boolean | Miss {
    return typeof value === 'boolean' ? value : this.mismatch(value, field, 'a boolean');
  }

  optBoolean(value: unknown, field: string): boolean | undefined {
    return absent(value) ? undefined : this.boolean(value, field);
  }

  integer(value: unknown, field: string, min: number, max: number): number | Miss {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    return this.mismatch(value, field, `an integer from ${min} to ${max}`);
  }

  optInteger(value: unknown, field: string, min: number, max: number): number | undefined {
    return absent(value) ? undefined : this.integer(value, field, min, max);
  }

  /** A finite number (fractions allowed: percentages, ratios) from `min` to `max`. */
  number(value: unknown, field: string, min: number, max: number): number | Miss {
    if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
    return this.mismatch(value, field, `a number from ${min} to ${max}`);
  }

  optNumber(value: unknown, field: string, min: number, max: number): number | undefined {
    return absent(value) ? undefined : this.number(value, field, min, max);
  }

  /** A TCP/UDP port; `min` 0 where 0 means "unset" (the xDS model), else 1. */
  port(value: unknown, field: string, min: 0 | 1 = 1): number | Miss {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= 65535) return value;
    return this.mismatch(value, field, `an integer port from ${min} to 65535`);
  }

  /** Kubernetes IntOrString for ports: a port number or an IANA_SVC_NAME. */
  optIntOrString(value: unknown, field: string): number | string | undefined {
    if (absent(value)) return undefined;
    if (typeof value === 'string') {
      // The API server sends `"8080"` for a YAML-quoted number; Kubernetes treats that as the number.
      return /^\d+$/.test(value) ? this.port(Number(value), field) : this.name(value, field);
    }
    return this.port(value, field);
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T | Miss {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    return this.mismatch(value, field, `one of ${allowed.join(', ')}`);
  }

  optOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T | undefined {
    return absent(value) ? undefined : this.oneOf(value, field, allowed);
  }

  /** An IPv4 or IPv6 address, without a prefix length. */
  ip(value: unknown, field: string): string | Miss {
    const s = this.string(value, field);
    if (typeof s !== 'string') return s;
    if (isIP(s) === 0) return this.fail(field, `${describeValue(s)} is not an IP address`);
    return s;
  }

  strings(value: unknown, field: string): readonly string[] | Miss {
    const list = this.array(value, field);
    return list === undefined ? this.#missed() : this.#allStrings(list, field);
  }

  /** Missing reads as an empty list. */
  optStrings(value: unknown, field: string): readonly string[] | Miss {
    return absent(value) ? [] : this.strings(value, field);
  }

  /** labels, annotations, selectors: string → string; missing reads as an empty map. */
  optStringMap(value: unknown, field: string): Readonly<Record<string, string>> | Miss {
    if (absent(value)) return {};
    const map = this.record(value, field);
    if (!isRecord(map)) return map;
    let ok = true;
    for (const [k, v] of Object.entries(map)) {
      if (typeof v === 'string') continue;
      // YAML reads `version: 1` as a number; a label value must be quoted.
      this.fail(`${field}[${k}]`, `must be a string, got ${describeValue(v)} (quote it in YAML)`);
      ok = false;
    }
    return ok ? (map as Record<string, string>) : this.#missed();
  }

  #allStrings(list: readonly unknown[], field: string): readonly string[] | Miss {
    let ok = true;
    list.forEach((item, i) => {
      if (typeof item === 'string') return;
      this.mismatch(item, `${field}[${i}]`, 'a string');
      ok = false;
    });
    return ok ? (list as readonly string[]) : this.#missed();
  }

  /** What a failed read returns; only collecting readers get this far after a problem, and their Miss is `undefined`. */
  #missed(): Miss {
    return undefined as Miss;
  }
}
