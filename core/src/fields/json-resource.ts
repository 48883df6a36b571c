/**
 * The body of an Ambit xDS resource that is UTF-8 JSON (route sets, ServiceTraffic, L7 authorizations): one encoding
 * and one decoding edge, so every such codec refuses a bad body the same way — a FieldError `MALFORMED_RESOURCE`
 * naming the resource and the field, which the xDS client turns into a NACK.
 */
import { errorMessage } from '../errors.ts';
import { FieldError } from './field-error.ts';
import { FieldReader } from './field-reader.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The xDS body of a JSON resource: the UTF-8 JSON of `value`. */
export function encodeJsonResource(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A decoded JSON resource body: the top-level object and the throwing reader the codec goes on reading it with. */
export interface JsonResourceBody {
  readonly c: FieldReader<never>;
  readonly body: Record<string, unknown>;
}

/**
 * Parses resource `name`'s body, which must be a UTF-8 JSON object; `kind` names the resource in errors
 * (`RouteSet "demo/web"`). The returned reader throws FieldError `MALFORMED_RESOURCE` on the first bad field.
 */
export function readJsonResource(kind: string, name: string, bytes: Uint8Array): JsonResourceBody {
  const c = FieldReader.throwing(`${kind} ${JSON.stringify(name)}`, (o, f, p) => new FieldError('MALFORMED_RESOURCE', o, f, p));
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    return c.fail('(body)', `is not UTF-8 JSON: ${errorMessage(err)}`);
  }
  return { c, body: c.record(json, '(body)') };
}
