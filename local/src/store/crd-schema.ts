import { isRecord } from '@ambit/core';
import type { FieldError } from '../kube/types.ts';

/**
 * A CRD version's `openAPIV3Schema`, read once when the CRD is registered. Only the keywords a structural schema may
 * carry are kept (apiextensions.k8s.io/v1 JSONSchemaProps); `properties` is a Map so that a property named
 * `__proto__` is just a name.
 */
export interface SchemaNode {
  readonly type?: string;
  readonly format?: string;
  readonly nullable: boolean;
  readonly properties?: ReadonlyMap<string, SchemaNode>;
  /** A schema for the values of a map; `true` keeps them unchecked, `false` or absent prunes what properties lacks. */
  readonly additionalProperties?: SchemaNode | boolean;
  readonly items?: SchemaNode;
  readonly required: readonly string[];
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum: boolean;
  readonly exclusiveMaximum: boolean;
  readonly multipleOf?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: { readonly source: string; readonly regex: RegExp };
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems: boolean;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly allOf: readonly SchemaNode[];
  readonly anyOf: readonly SchemaNode[];
  readonly oneOf: readonly SchemaNode[];
  readonly not?: SchemaNode;
  readonly intOrString: boolean;
  readonly preserveUnknownFields: boolean;
  readonly embeddedResource: boolean;
  /** `x-kubernetes-list-type` (`atomic`, `set` or `map`); server-side apply merges lists by it, absent = atomic. */
  readonly listType?: 'atomic' | 'set' | 'map';
  /** `x-kubernetes-list-map-keys` of a `map` list. */
  readonly listMapKeys?: readonly string[];
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Reads a JSONSchemaProps. Problems (a pattern JavaScript cannot compile, a `$ref`) are reported with their schema
 * path so the CRD can be refused as kube-apiserver refuses it, instead of validating with half a schema.
 */
export function parseSchema(raw: unknown, path: string, problems: FieldError[]): SchemaNode {
  const s = isRecord(raw) ? raw : {};
  if (!isRecord(raw)) problems.push({ field: path, message: 'Invalid value: must be an object' });
  if (s['$ref'] !== undefined) problems.push({ field: `${path}.$ref`, message: 'Forbidden: $ref is not supported' });
  const list = (key: string): SchemaNode[] =>
    Array.isArray(s[key]) ? (s[key] as unknown[]).map((x, i) => parseSchema(x, `${path}.${key}[${i}]`, problems)) : [];
  let properties: Map<string, SchemaNode> | undefined;
  if (isRecord(s['properties'])) {
    properties = new Map();
    for (const [k, v] of Object.entries(s['properties'])) properties.set(k, parseSchema(v, `${path}.properties[${k}]`, problems));
  }
  let pattern: SchemaNode['pattern'];
  if (typeof s['pattern'] === 'string') {
    try {
      // Go's RE2 and JavaScript agree on the syntax CRD patterns use (classes, anchors, counted repetition); `u`
      // makes `.` and classes work on code points as RE2 does on runes.
      pattern = { source: s['pattern'], regex: new RegExp(s['pattern'], 'u') };
    } catch (err) {
      problems.push({ field: `${path}.pattern`, message: `Invalid value: ${JSON.stringify(s['pattern'])}: ${(err as Error).message}` });
    }
  }
  const ap = s['additionalProperties'];
  const additionalProperties =
    typeof ap === 'boolean' ? ap : isRecord(ap) ? parseSchema(ap, `${path}.additionalProperties`, problems) : undefined;
  const notSchema = isRecord(s['not']) ? parseSchema(s['not'], `${path}.not`, problems) : undefined;
  const optional = {
    ...(typeof s['type'] === 'string' ? { type: s['type'] } : {}),
    ...(typeof s['format'] === 'string' ? { format: s['format'] } : {}),
    ...(properties === undefined ? {} : { properties }),
    ...(additionalProperties === undefined ? {} : { additionalProperties }),
    ...(isRecord(s['items']) ? { items: parseSchema(s['items'], `${path}.items`, problems) } : {}),
    ...(Array.isArray(s['enum']) ? { enum: s['enum'] as unknown[] } : {}),
    ...(pattern === undefined ? {} : { pattern }),
    ...(notSchema === undefined ? {} : { not: notSchema }),
  };
  const numbers: Record<string, number> = {};
  for (const k of [
    'minimum',
    'maximum',
    'multipleOf',
    'minLength',
    'maxLength',
    'minItems',
    'maxItems',
    'minProperties',
    'maxProperties',
  ] as const) {
    const v = num(s[k]);
    if (v !== undefined) numbers[k] = v;
  }
  return {
    ...optional,
    ...numbers,
    nullable: s['nullable'] === true,
    required: Array.isArray(s['required']) ? s['required'].filter((r): r is string => typeof r === 'string') : [],
    exclusiveMinimum: s['exclusiveMinimum'] === true,
    exclusiveMaximum: s['exclusiveMaximum'] === true,
    uniqueItems: s['uniqueItems'] === true,
    allOf: list('allOf'),
    anyOf: list('anyOf'),
    oneOf: list('oneOf'),
    intOrString: s['x-kubernetes-int-or-string'] === true,
    preserveUnknownFields: s['x-kubernetes-preserve-unknown-fields'] === true,
    embeddedResource: s['x-kubernetes-embedded-resource'] === true,
    ...(s['x-kubernetes-list-type'] === 'atomic' || s['x-kubernetes-list-type'] === 'set' || s['x-kubernetes-list-type'] === 'map'
      ? { listType: s['x-kubernetes-list-type'] }
      : {}),
    ...(Array.isArray(s['x-kubernetes-list-map-keys'])
      ? { listMapKeys: s['x-kubernetes-list-map-keys'].filter((k): k is string => typeof k === 'string') }
      : {}),
  };
}
