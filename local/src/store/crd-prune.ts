import { isRecord } from '@ambit/core';
import type { SchemaNode } from './crd-schema.ts';

/** What every object and embedded resource keeps whatever its schema says (ObjectMeta is checked on its own). */
const OBJECT_FIELDS: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'metadata']);

function child(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

/**
 * Structural pruning as kube-apiserver does it before validating a custom resource: fields the schema does not declare
 * are dropped (unless `x-kubernetes-preserve-unknown-fields` or `additionalProperties` keeps them), and so are `null`s
 * of fields that are not `nullable`. Only `properties`, `additionalProperties` and `items` decide; the junctors do not.
 * Changes `obj` in place and returns the dropped fields' paths (`spec.foo`, `spec.rules[0].bar`) for
 * `fieldValidation=Strict|Warn`; dropped nulls are not reported, as there.
 */
export function pruneUnknownFields(root: SchemaNode, obj: Record<string, unknown>): string[] {
  const unknown: string[] = [];
  prune(root, obj, '', true, unknown);
  return unknown;
}

function prune(node: SchemaNode, value: unknown, path: string, isObjectRoot: boolean, unknown: string[]): void {
  if (Array.isArray(value)) {
    if (node.items !== undefined)
      value.forEach((v, i) => node.items !== undefined && prune(node.items, v, `${path}[${i}]`, false, unknown));
    return;
  }
  if (!isRecord(value)) return;
  const keepsObjectFields = isObjectRoot || node.embeddedResource;
  for (const key of Object.keys(value)) {
    if (keepsObjectFields && OBJECT_FIELDS.has(key)) continue;
    const v = value[key];
    const schema = node.properties?.get(key) ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    if (schema !== undefined) {
      if (v === null && !schema.nullable) delete value[key];
      else prune(schema, v, child(path, key), false, unknown);
    } else if (node.additionalProperties !== true && !node.preserveUnknownFields) {
      delete value[key];
      unknown.push(child(path, key));
    }
  }
}
