import type { FieldError, KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { pruneUnknownFields } from './crd-prune.ts';
import { validateValue } from './crd-validate.ts';

/**
 * What to do with fields a schema does not declare (the `fieldValidation` query parameter): they are always dropped;
 * `Warn` also says so in a `Warning` header, `Strict` refuses the request instead (400, as kube-apiserver).
 */
export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface SchemaCheckOptions {
  /** Default `Ignore`: in-process writers have nobody to warn. The HTTP API defaults to `Warn`, as kube-apiserver. */
  readonly fieldValidation?: FieldValidation;
  /** Receives each warning (`unknown field "spec.foo"`) under `Warn`. */
  readonly warn?: (message: string) => void;
}

/**
 * Prunes `obj` in place to its type's schema and returns the schema's complaints about what is left. Types without a
 * schema (built-ins, kinds registered without a CRD) are left alone. `metadata` is not the schema's business here:
 * the generic object rules check it.
 */
export function checkAgainstSchema(type: ResourceType, obj: KubeObject, options: SchemaCheckOptions): FieldError[] {
  const schema = type.schema;
  if (schema === undefined) return [];
  const unknown = pruneUnknownFields(schema, obj);
  const mode = options.fieldValidation ?? 'Ignore';
  if (unknown.length > 0 && mode === 'Strict') {
    // The wording of a strict decoding error wrapped by the request handler (transformDecodeError).
    throw ApiError.badRequest(
      `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown
        .map((f) => `unknown field "${f}"`)
        .join(', ')}`,
    );
  }
  if (mode === 'Warn') for (const f of unknown) options.warn?.(`unknown field "${f}"`);
  const { metadata: _metadata, ...rest } = obj;
  return validateValue(schema, rest);
}
