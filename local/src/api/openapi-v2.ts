import { isRecord } from '@ambit/core';
import type { OpenApi } from './openapi.ts';

/**
 * `/openapi/v2`, derived from the v3 documents (`openapi.ts`): Swagger 2.0 JSON, or the protobuf encoding of it that
 * client-go asks for (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's
 * `openapi.v2.Document`; client-go does not fall back to JSON). kubectl 1.27+ uses v3 for validation, explain and
 * apply; v2 is what `kubectl explain --output plaintext-openapiv2` and older clients read.
 *
 * The protobuf is written by hand with the field numbers of gnostic's OpenAPIv2.proto, for the messages a schema
 * document needs (Document, Info, Paths, PathItem, Operation, query parameters, Definitions, Schema, NamedAny).
 */

/** What kube-apiserver answers (kube-openapi): `.v1.0`, since Go's mime parser refuses the `@` clients ask with. */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

type Json = Record<string, unknown>;

/** The v3 schema rewritten for Swagger 2.0: `$ref`s point into `definitions`, v3-only keywords go. */
function v2Schema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(v2Schema);
  if (!isRecord(s)) return s;
  // v3 wraps a described $ref in allOf (no siblings beside $ref); Swagger 2.0 as kube-apiserver writes it puts them
  // side by side, and that is what kubectl's v2 explain follows.
  const only = Array.isArray(s['allOf']) && s['allOf'].length === 1 ? s['allOf'][0] : undefined;
  if (isRecord(only) && typeof only['$ref'] === 'string') {
    const { allOf: _allOf, ...rest } = s;
    return v2Schema({ ...rest, $ref: only['$ref'] });
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable' || k === 'anyOf' || k === 'oneOf' || k === 'not') continue;
    if (k === '$ref' && typeof v === 'string') out[k] = v.replace('#/components/schemas/', '#/definitions/');
    else if (k === 'properties' && isRecord(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, v2Schema(ps)]));
    else out[k] = v2Schema(v);
  }
  return out;
}

/** One Swagger 2.0 document over every group/version the v3 root lists. */
export function openApiV2Json(api: OpenApi): Json {
  const paths: Json = {};
  const definitions: Json = {};
  for (const path of Object.keys(api.root()['paths'] as Json)) {
    const [prefix, a, b] = path.split('/');
    const doc = prefix === 'api' ? api.document('', a ?? '') : api.document(a ?? '', b ?? '');
    if (doc === undefined) continue;
    const schemas = (doc['components'] as { schemas: Json }).schemas;
    for (const [name, schema] of Object.entries(schemas)) definitions[name] = v2Schema(schema);
    for (const [p, item] of Object.entries(doc['paths'] as Json)) {
      if (!isRecord(item)) continue;
      const ops: Json = {};
      for (const [method, op] of Object.entries(item)) {
        if (!isRecord(op) || method === 'parameters') continue;
        const params = Array.isArray(op['parameters']) ? op['parameters'].filter(isRecord) : [];
        ops[method] = {
          'x-kubernetes-action': op['x-kubernetes-action'],
          'x-kubernetes-group-version-kind': op['x-kubernetes-group-version-kind'],
          parameters: params.map((q) => ({ name: q['name'], in: 'query', type: 'string', uniqueItems: true })),
          responses: { '200': { description: 'OK' } },
        };
      }
      paths[p] = ops;
    }
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.32.0-ambit' }, paths, definitions };
}

// --- protobuf wire format (https://protobuf.dev/programming-guides/encoding/) ---

class Writer {
  private readonly parts: Buffer[] = [];

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      bytes.push(b);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  string(field: number, v: unknown): this {
    if (typeof v !== 'string' || v === '') return this;
    return this.bytes(field, Buffer.from(v, 'utf8'));
  }

  bytes(field: number, b: Buffer): this {
    this.tag(field, 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }

  bool(field: number, v: unknown): this {
    if (v !== true) return this;
    this.tag(field, 0);
    this.varint(1);
    return this;
  }

  int(field: number, v: unknown): this {
    if (typeof v !== 'number' || !Number.isInteger(v) || v === 0) return this;
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  double(field: number, v: unknown): this {
    if (typeof v !== 'number') return this;
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.parts.push(b);
    return this;
  }

  message(field: number, m: Writer | undefined): this {
    return m === undefined ? this : this.bytes(field, m.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** gnostic `Any`: the value as YAML text (JSON is YAML), which is what client-go's parser reads. */
const anyOf = (v: unknown): Writer => new Writer().string(2, JSON.stringify(v));
const namedAny = (name: string, v: unknown): Writer => new Writer().string(1, name).message(2, anyOf(v));

function vendorExtensions(w: Writer, field: number, obj: Json): void {
  for (const [k, v] of Object.entries(obj)) if (k.startsWith('x-')) w.message(field, namedAny(k, v));
}

function schemaMessage(s: unknown): Writer {
  const w = new Writer();
  if (!isRecord(s)) return w;
  w.string(1, s['$ref']).string(2, s['format']).string(3, s['title']).string(4, s['description']);
  if (s['default'] !== undefined) w.message(5, anyOf(s['default']));
  w.double(6, s['multipleOf']).double(7, s['maximum']).bool(8, s['exclusiveMaximum']).double(9, s['minimum']);
  w.bool(10, s['exclusiveMinimum']).int(11, s['maxLength']).int(12, s['minLength']).string(13, s['pattern']);
  w.int(14, s['maxItems']).int(15, s['minItems']).bool(16, s['uniqueItems']).int(17, s['maxProperties']).int(18, s['minProperties']);
  for (const r of Array.isArray(s['required']) ? s['required'] : []) w.string(19, r);
  for (const e of Array.isArray(s['enum']) ? s['enum'] : []) w.message(20, anyOf(e));
  const additional = s['additionalProperties'];
  if (isRecord(additional)) w.message(21, new Writer().message(1, schemaMessage(additional)));
  else if (typeof additional === 'boolean') w.message(21, new Writer().bool(2, additional));
  if (typeof s['type'] === 'string') w.message(22, new Writer().string(1, s['type']));
  if (s['items'] !== undefined) w.message(23, new Writer().message(1, schemaMessage(s['items'])));
  for (const a of Array.isArray(s['allOf']) ? s['allOf'] : []) w.message(24, schemaMessage(a));
  if (isRecord(s['properties'])) {
    const props = new Writer();
    for (const [name, ps] of Object.entries(s['properties'])) props.message(1, new Writer().string(1, name).message(2, schemaMessage(ps)));
    w.message(25, props);
  }
  vendorExtensions(w, 31, s);
  return w;
}

function operationMessage(op: Json): Writer {
  const w = new Writer();
  for (const p of Array.isArray(op['parameters']) ? op['parameters'].filter(isRecord) : []) {
    // ParametersItem.parameter → Parameter.non_body_parameter → NonBodyParameter.query_parameter_sub_schema
    const query = new Writer().string(2, 'query').string(4, p['name']).string(6, 'string').bool(20, true);
    w.message(8, new Writer().message(1, new Writer().message(2, new Writer().message(3, query))));
  }
  const ok = new Writer().string(1, '200').message(2, new Writer().message(1, new Writer().string(1, 'OK')));
  w.message(9, new Writer().message(1, ok));
  vendorExtensions(w, 13, op);
  return w;
}

const PATH_ITEM_FIELDS: Readonly<Record<string, number>> = { get: 2, put: 3, post: 4, delete: 5, patch: 8 };

/** The protobuf encoding of `openApiV2Json`'s document. */
export function encodeOpenApiV2(doc: Json): Buffer {
  const w = new Writer().string(1, doc['swagger']);
  const info = isRecord(doc['info']) ? doc['info'] : {};
  w.message(2, new Writer().string(1, info['title']).string(2, info['version']));
  const paths = new Writer();
  for (const [p, item] of Object.entries(isRecord(doc['paths']) ? doc['paths'] : {})) {
    if (!isRecord(item)) continue;
    const pathItem = new Writer();
    for (const [method, field] of Object.entries(PATH_ITEM_FIELDS)) {
      const op = item[method];
      if (isRecord(op)) pathItem.message(field, operationMessage(op));
    }
    paths.message(2, new Writer().string(1, p).message(2, pathItem));
  }
  w.message(8, paths);
  const definitions = new Writer();
  for (const [name, s] of Object.entries(isRecord(doc['definitions']) ? doc['definitions'] : {})) {
    definitions.message(1, new Writer().string(1, name).message(2, schemaMessage(s)));
  }
  w.message(9, definitions);
  return w.finish();
}
