import { isRecord } from '@ambit/core';
import type { FieldError } from '../kube/types.ts';
import { matchesFormat } from './crd-formats.ts';
import type { SchemaNode } from './crd-schema.ts';

/**
 * Validates a custom resource against its CRD's structural schema the way kube-apiserver does (kube-openapi's
 * validator, its errors turned into field errors by apiextensions-apiserver's `ValidateCustomResource`), so clients
 * print what a real cluster prints, e.g.
 * `spec.total.requestsPerSecond: Invalid value: 0: spec.total.requestsPerSecond in body should be greater than or equal to 1`.
 *
 * The order of checks on one value is kube-openapi's: type, the junctors (allOf, oneOf, anyOf, not), string, format,
 * number, array, enum, object. Each keyword applies only to values of the JSON type it is about (as there: a
 * `minimum` says nothing about a string).
 */

type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';

function jsonType(v: unknown): JsonType {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** A value as Go's field.Error prints it: strings quoted, numbers and booleans bare, the rest as JSON. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function child(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

const invalid = (field: string, value: unknown, detail: string): FieldError => ({
  field,
  message: `Invalid value: ${formatValue(value)}: ${detail}`,
  reason: 'FieldValueInvalid',
});

/** The errors of `value` at `path` ('' for the root) against `node`, in kube-apiserver's wording. */
export function validateValue(node: SchemaNode, value: unknown, path = ''): FieldError[] {
  const out: FieldError[] = [];
  check(node, value, path, out);
  return out;
}

function check(node: SchemaNode, value: unknown, path: string, out: FieldError[]): void {
  const actual = jsonType(value);
  // x-kubernetes-int-or-string becomes `type: [integer, string]` in the schema kube-apiserver validates with.
  const allowed = node.intOrString ? ['integer', 'string'] : node.type === undefined ? [] : [node.type];
  if (actual === 'null') {
    if (allowed.length > 0 && !node.nullable) {
      out.push({
        field: path,
        message: `Invalid value: "null": ${path} in body must be of type ${allowed.join(',')}: "null"`,
        reason: 'FieldValueTypeInvalid',
      });
    }
    return;
  }
  if (allowed.length > 0 && !allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) {
    out.push({
      field: path,
      message: `Invalid value: "${actual}": ${path} in body must be of type ${allowed.join(',')}: "${actual}"`,
      reason: 'FieldValueTypeInvalid',
    });
  }
  checkJunctors(node, value, path, out);
  if (typeof value === 'string') checkString(node, value, path, out);
  if (typeof value === 'number') checkNumber(node, value, path, out);
  if (Array.isArray(value)) checkArray(node, value, path, out);
  if (node.enum !== undefined && !node.enum.some((e) => jsonEqual(e, value))) {
    const supported = node.enum.map((e) => JSON.stringify(typeof e === 'string' ? e : JSON.stringify(e))).join(', ');
    out.push({
      field: path,
      message: `Unsupported value: ${formatValue(value)}${supported === '' ? '' : `: supported values: ${supported}`}`,
      reason: 'FieldValueNotSupported',
    });
  }
  if (isRecord(value)) checkObject(node, value, path, out);
}

/**
 * Junctor failures carry no field of their own in kube-apiserver (the path is only inside the message) and bring the
 * errors of the alternative that came closest, so the user still sees e.g. which required field is missing.
 */
function checkJunctors(node: SchemaNode, value: unknown, path: string, out: FieldError[]): void {
  const composite = (message: string): FieldError => ({ field: '', message: `Invalid value: "": ${message}`, reason: 'FieldValueInvalid' });
  const results = (schemas: readonly SchemaNode[]): FieldError[][] => schemas.map((s) => validateValue(s, value, path));
  const closest = (rs: FieldError[][]): FieldError[] =>
    rs.reduce<FieldError[] | undefined>((best, r) => (best === undefined || r.length < best.length ? r : best), undefined) ?? [];
  if (node.allOf.length > 0) {
    const failed = results(node.allOf).filter((r) => r.length > 0);
    if (failed.length > 0) {
      out.push(composite(`${JSON.stringify(path)} must validate all the schemas (allOf)`));
      for (const r of failed) out.push(...r);
    }
  }
  if (node.oneOf.length > 0) {
    const rs = results(node.oneOf);
    const valid = rs.filter((r) => r.length === 0).length;
    if (valid !== 1) {
      const found = valid === 0 ? 'Found none valid' : `Found ${valid} valid alternatives`;
      out.push(composite(`${JSON.stringify(path)} must validate one and only one schema (oneOf). ${found}`));
      if (valid === 0) out.push(...closest(rs));
    }
  }
  if (node.anyOf.length > 0) {
    const rs = results(node.anyOf);
    if (!rs.some((r) => r.length === 0)) {
      out.push(composite(`${JSON.stringify(path)} must validate at least one schema (anyOf)`));
      out.push(...closest(rs));
    }
  }
  if (node.not !== undefined && validateValue(node.not, value, path).length === 0) {
    out.push(composite(`${JSON.stringify(path)} must not validate the schema (not)`));
  }
}

function checkString(node: SchemaNode, value: string, path: string, out: FieldError[]): void {
  // go-openapi counts runes, not UTF-16 units.
  const length = [...value].length;
  if (node.maxLength !== undefined && length > node.maxLength) {
    // field.TooLong omits the value (Kubernetes 1.32 wording).
    out.push({
      field: path,
      message: `Too long: may not be more than ${node.maxLength} ${node.maxLength === 1 ? 'byte' : 'bytes'}`,
      reason: 'FieldValueTooLong',
    });
  }
  if (node.minLength !== undefined && length < node.minLength) {
    out.push(invalid(path, value, `${path} in body should be at least ${node.minLength} chars long`));
  }
  if (node.pattern !== undefined && !node.pattern.regex.test(value)) {
    out.push(invalid(path, value, `${path} in body should match '${node.pattern.source}'`));
  }
  if (node.format !== undefined && !matchesFormat(node.format, value)) {
    out.push({
      field: path,
      message: `Invalid value: ${formatValue(value)}: ${path} in body must be of type ${node.format}: ${JSON.stringify(value)}`,
      reason: 'FieldValueTypeInvalid',
    });
  }
}

function checkNumber(node: SchemaNode, value: number, path: string, out: FieldError[]): void {
  if (node.multipleOf !== undefined && node.multipleOf !== 0 && !Number.isInteger(value / node.multipleOf)) {
    out.push(invalid(path, value, `${path} in body should be a multiple of ${node.multipleOf}`));
  }
  if (node.maximum !== undefined && (node.exclusiveMaximum ? value >= node.maximum : value > node.maximum)) {
    const bound = node.exclusiveMaximum ? 'less than' : 'less than or equal to';
    out.push(invalid(path, value, `${path} in body should be ${bound} ${node.maximum}`));
  }
  if (node.minimum !== undefined && (node.exclusiveMinimum ? value <= node.minimum : value < node.minimum)) {
    const bound = node.exclusiveMinimum ? 'greater than' : 'greater than or equal to';
    out.push(invalid(path, value, `${path} in body should be ${bound} ${node.minimum}`));
  }
}

function checkArray(node: SchemaNode, value: readonly unknown[], path: string, out: FieldError[]): void {
  if (node.items !== undefined) value.forEach((v, i) => node.items !== undefined && check(node.items, v, `${path}[${i}]`, out));
  if (node.minItems !== undefined && value.length < node.minItems) {
    out.push(invalid(path, value.length, `${path} in body should have at least ${node.minItems} items`));
  }
  if (node.maxItems !== undefined && value.length > node.maxItems) {
    out.push({
      field: path,
      message: `Too many: ${value.length}: must have at most ${node.maxItems} items`,
      reason: 'FieldValueTooMany',
    });
  }
  if (node.uniqueItems && value.some((v, i) => value.slice(i + 1).some((w) => jsonEqual(v, w)))) {
    out.push(invalid(path, '', `${path} in body shouldn't contain duplicates`));
  }
}

function checkObject(node: SchemaNode, value: Readonly<Record<string, unknown>>, path: string, out: FieldError[]): void {
  const keys = Object.keys(value);
  if (node.maxProperties !== undefined && keys.length > node.maxProperties) {
    out.push({
      field: path,
      message: `Too many: ${keys.length}: must have at most ${node.maxProperties} items`,
      reason: 'FieldValueTooMany',
    });
  }
  if (node.minProperties !== undefined && keys.length < node.minProperties) {
    out.push(invalid(path, keys.length, `${path} in body should have at least ${node.minProperties} properties`));
  }
  for (const r of node.required) {
    if (!Object.hasOwn(value, r)) out.push({ field: child(path, r), message: 'Required value', reason: 'FieldValueRequired' });
  }
  for (const k of keys) {
    const v = value[k];
    const prop = node.properties?.get(k);
    if (prop !== undefined) check(prop, v, child(path, k), out);
    else if (typeof node.additionalProperties === 'object') check(node.additionalProperties, v, child(path, k), out);
  }
}
