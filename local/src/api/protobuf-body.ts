import { ApiError } from '../store/api-error.ts';

/**
 * Request bodies in Kubernetes' protobuf encoding, for the few kinds kubectl only ever sends that way: its typed
 * clients (`kubectl auth can-i`, `auth whoami`, `create token`) post `application/vnd.kubernetes.protobuf`. A body is
 * the magic `k8s\0` followed by a runtime.Unknown (typeMeta, raw), whose `raw` is the object's message
 * (k8s.io/api/<group>/<version>/generated.proto). Only the fields listed in a schema below are read; responses go
 * back as JSON, which those clients accept too.
 */

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type FieldType = 'string' | 'int' | 'bool' | MessageSchema | { readonly repeated: FieldType } | { readonly map: MessageSchema };
/** Field number → JSON name and type. */
export type MessageSchema = Readonly<Record<number, readonly [string, FieldType]>>;

interface RawField {
  readonly no: number;
  readonly varint?: number;
  readonly bytes?: Buffer;
}

function fail(why: string): never {
  throw ApiError.badRequest(`unable to decode the protobuf request body: ${why}`);
}

function readFields(buf: Buffer): RawField[] {
  const out: RawField[] = [];
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let n = 0; n < 10; n++) {
      const b = buf[i++];
      if (b === undefined) fail('truncated varint');
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    return fail('varint too long');
  };
  while (i < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        out.push({ no, varint: varint() });
        break;
      case 2: {
        const len = varint();
        if (i + len > buf.length) fail('truncated field');
        out.push({ no, bytes: buf.subarray(i, i + len) });
        i += len;
        break;
      }
      case 1:
        i += 8;
        break;
      case 5:
        i += 4;
        break;
      default:
        fail(`unsupported wire type ${key & 7}`);
    }
  }
  return out;
}

function decodeValue(f: RawField, type: FieldType): unknown {
  if (type === 'string') return (f.bytes ?? Buffer.alloc(0)).toString('utf8');
  if (type === 'int') return f.varint ?? 0;
  if (type === 'bool') return f.varint === 1;
  if ('repeated' in type) return decodeValue(f, type.repeated as FieldType);
  if ('map' in type) return decodeMessage(f.bytes ?? Buffer.alloc(0), type.map);
  return decodeMessage(f.bytes ?? Buffer.alloc(0), type as MessageSchema);
}

export function decodeMessage(buf: Buffer, schema: MessageSchema): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const f of readFields(buf)) {
    const entry = schema[f.no];
    if (entry === undefined) continue;
    const [name, type] = entry;
    const value = decodeValue(f, type);
    if (typeof type === 'object' && 'repeated' in type) {
      const list = Array.isArray(obj[name]) ? (obj[name] as unknown[]) : [];
      list.push(value);
      obj[name] = list;
    } else if (typeof type === 'object' && 'map' in type) {
      // A map entry is a message {1: key, 2: value}.
      const e = value as { key?: string; value?: unknown };
      const map = (obj[name] ?? {}) as Record<string, unknown>;
      map[e.key ?? ''] = e.value;
      obj[name] = map;
    } else obj[name] = value;
  }
  return obj;
}

const TYPE_META: MessageSchema = { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] };

/** The object in a protobuf body, as its JSON form (apiVersion, kind and the fields of `spec`). */
export function decodeProtobufObject(body: Buffer, specSchema: MessageSchema): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) fail('missing the k8s protobuf prefix');
  // runtime.Unknown: 1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType.
  const fields = readFields(body.subarray(MAGIC.length));
  const typeMeta = fields.find((f) => f.no === 1)?.bytes;
  const raw = fields.find((f) => f.no === 2)?.bytes ?? Buffer.alloc(0);
  const meta = typeMeta === undefined ? {} : decodeMessage(typeMeta, TYPE_META);
  const encoding = fields.find((f) => f.no === 3)?.bytes?.toString('utf8') ?? '';
  if (encoding !== '') fail(`content encoding ${encoding} is not supported`);
  const obj = decodeMessage(raw, { 1: ['metadata', { 1: ['name', 'string'], 3: ['namespace', 'string'] }], 2: ['spec', specSchema] });
  return { ...meta, ...obj, spec: obj['spec'] ?? {} };
}

// The specs of the kinds served from protobuf (k8s.io/api authentication/v1 and authorization/v1 generated.proto).
const LABEL_REQUIREMENT: MessageSchema = { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', { repeated: 'string' }] };
const RESOURCE_ATTRIBUTES: MessageSchema = {
  1: ['namespace', 'string'],
  2: ['verb', 'string'],
  3: ['group', 'string'],
  4: ['version', 'string'],
  5: ['resource', 'string'],
  6: ['subresource', 'string'],
  7: ['name', 'string'],
  8: ['fieldSelector', { 1: ['rawSelector', 'string'], 2: ['requirements', { repeated: LABEL_REQUIREMENT }] }],
  9: ['labelSelector', { 1: ['rawSelector', 'string'], 2: ['requirements', { repeated: LABEL_REQUIREMENT }] }],
};
const NON_RESOURCE_ATTRIBUTES: MessageSchema = { 1: ['path', 'string'], 2: ['verb', 'string'] };

const SUBJECT_ACCESS_REVIEW: MessageSchema = {
  1: ['resourceAttributes', RESOURCE_ATTRIBUTES],
  2: ['nonResourceAttributes', NON_RESOURCE_ATTRIBUTES],
  3: ['user', 'string'],
  4: ['groups', { repeated: 'string' }],
  // map<string, ExtraValue>; ExtraValue is {1: items}. The handler flattens it to the JSON form (string lists).
  5: ['extra', { map: { 1: ['key', 'string'], 2: ['value', { 1: ['items', { repeated: 'string' }] }] } }],
  6: ['uid', 'string'],
};

export const SPEC_SCHEMAS: Readonly<Record<string, MessageSchema>> = {
  SelfSubjectAccessReview: { 1: ['resourceAttributes', RESOURCE_ATTRIBUTES], 2: ['nonResourceAttributes', NON_RESOURCE_ATTRIBUTES] },
  SubjectAccessReview: SUBJECT_ACCESS_REVIEW,
  LocalSubjectAccessReview: SUBJECT_ACCESS_REVIEW,
  SelfSubjectRulesReview: { 1: ['namespace', 'string'] },
  SelfSubjectReview: {},
  TokenReview: { 1: ['token', 'string'], 2: ['audiences', { repeated: 'string' }] },
  TokenRequest: {
    1: ['audiences', { repeated: 'string' }],
    4: ['expirationSeconds', 'int'],
    3: ['boundObjectRef', { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] }],
  },
};
