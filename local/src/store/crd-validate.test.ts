import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FieldError } from '../kube/types.ts';
import { pruneUnknownFields } from './crd-prune.ts';
import { parseSchema, type SchemaNode } from './crd-schema.ts';
import { validateValue } from './crd-validate.ts';

function schema(raw: unknown): SchemaNode {
  const problems: FieldError[] = [];
  const s = parseSchema(raw, 'schema', problems);
  assert.deepEqual(problems, []);
  return s;
}

/** `field: message` lines, as kubectl prints the causes. */
function errors(raw: unknown, value: unknown): string[] {
  return validateValue(schema(raw), value).map((e) => `${e.field}: ${e.message}`);
}

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'object',
  properties,
  ...extra,
});

interface Case {
  readonly name: string;
  readonly schema: unknown;
  readonly value: unknown;
  readonly want: readonly string[];
}

// Each keyword once failing, once passing; the wording is kube-apiserver's (kube-openapi messages wrapped in field errors).
const CASES: readonly Case[] = [
  { name: 'type integer ok', schema: obj({ n: { type: 'integer' } }), value: { n: 3 }, want: [] },
  {
    name: 'type integer given a string',
    schema: obj({ n: { type: 'integer' } }),
    value: { n: 'x' },
    want: ['n: Invalid value: "string": n in body must be of type integer: "string"'],
  },
  {
    name: 'type integer given a fraction',
    schema: obj({ n: { type: 'integer' } }),
    value: { n: 1.5 },
    want: ['n: Invalid value: "number": n in body must be of type integer: "number"'],
  },
  { name: 'type number takes an integer', schema: obj({ n: { type: 'number' } }), value: { n: 2 }, want: [] },
  {
    name: 'type object given an array',
    schema: obj({ spec: { type: 'object' } }),
    value: { spec: [] },
    want: ['spec: Invalid value: "array": spec in body must be of type object: "array"'],
  },
  {
    name: 'type string given a boolean',
    schema: obj({ s: { type: 'string' } }),
    value: { s: true },
    want: ['s: Invalid value: "boolean": s in body must be of type string: "boolean"'],
  },
  {
    name: 'null in an array',
    schema: obj({ a: { type: 'array', items: { type: 'string' } } }),
    value: { a: [null] },
    want: ['a[0]: Invalid value: "null": a[0] in body must be of type string: "null"'],
  },
  {
    name: 'nullable null',
    schema: obj({ a: { type: 'array', items: { type: 'string', nullable: true } } }),
    value: { a: [null] },
    want: [],
  },
  {
    name: 'required',
    schema: obj({ spec: obj({ targetRef: obj({ name: { type: 'string' } }, { required: ['name'] }) }, { required: ['targetRef'] }) }),
    value: { spec: { targetRef: {} } },
    want: ['spec.targetRef.name: Required value'],
  },
  {
    name: 'required at the top',
    schema: obj({ spec: { type: 'object' } }, { required: ['spec'] }),
    value: {},
    want: ['spec: Required value'],
  },
  {
    name: 'enum of strings',
    schema: obj({ kind: { type: 'string', enum: ['Service'] } }),
    value: { kind: 'Pod' },
    want: ['kind: Unsupported value: "Pod": supported values: "Service"'],
  },
  {
    name: 'enum of mixed values (int-or-string)',
    schema: obj({ c: { 'x-kubernetes-int-or-string': true, enum: ['OK', 0, 1] } }),
    value: { c: 7 },
    want: ['c: Unsupported value: 7: supported values: "OK", "0", "1"'],
  },
  {
    name: 'enum matches a number',
    schema: obj({ c: { 'x-kubernetes-int-or-string': true, enum: ['OK', 0, 1] } }),
    value: { c: 1 },
    want: [],
  },
  {
    name: 'int-or-string refuses a boolean',
    schema: obj({ c: { 'x-kubernetes-int-or-string': true } }),
    value: { c: false },
    want: ['c: Invalid value: "boolean": c in body must be of type integer,string: "boolean"'],
  },
  {
    name: 'int-or-string takes a string',
    schema: obj({ c: { 'x-kubernetes-int-or-string': true } }),
    value: { c: 'UNAVAILABLE' },
    want: [],
  },
  {
    name: 'minimum',
    schema: obj({ rps: { type: 'integer', minimum: 1 } }),
    value: { rps: 0 },
    want: ['rps: Invalid value: 0: rps in body should be greater than or equal to 1'],
  },
  {
    name: 'exclusive minimum',
    schema: obj({ rps: { type: 'integer', minimum: 1, exclusiveMinimum: true } }),
    value: { rps: 1 },
    want: ['rps: Invalid value: 1: rps in body should be greater than 1'],
  },
  {
    name: 'maximum',
    schema: obj({ s: { type: 'integer', maximum: 599 } }),
    value: { s: 600 },
    want: ['s: Invalid value: 600: s in body should be less than or equal to 599'],
  },
  {
    name: 'exclusive maximum',
    schema: obj({ p: { type: 'number', maximum: 100, exclusiveMaximum: true } }),
    value: { p: 100 },
    want: ['p: Invalid value: 100: p in body should be less than 100'],
  },
  { name: 'maximum inclusive passes', schema: obj({ p: { type: 'number', maximum: 100 } }), value: { p: 100 }, want: [] },
  {
    name: 'multipleOf',
    schema: obj({ n: { type: 'integer', multipleOf: 5 } }),
    value: { n: 7 },
    want: ['n: Invalid value: 7: n in body should be a multiple of 5'],
  },
  {
    name: 'minLength',
    schema: obj({ name: { type: 'string', minLength: 1 } }),
    value: { name: '' },
    want: ['name: Invalid value: "": name in body should be at least 1 chars long'],
  },
  {
    name: 'maxLength omits the value',
    schema: obj({ name: { type: 'string', maxLength: 3 } }),
    value: { name: 'abcd' },
    want: ['name: Too long: may not be more than 3 bytes'],
  },
  { name: 'maxLength counts code points', schema: obj({ name: { type: 'string', maxLength: 2 } }), value: { name: '😀😀' }, want: [] },
  {
    name: 'pattern',
    schema: obj({ d: { type: 'string', pattern: '^([0-9]{1,5}(h|m|s|ms)){1,4}$' } }),
    value: { d: '200 ms' },
    want: [`d: Invalid value: "200 ms": d in body should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'`],
  },
  {
    name: 'pattern matches',
    schema: obj({ d: { type: 'string', pattern: '^([0-9]{1,5}(h|m|s|ms)){1,4}$' } }),
    value: { d: '1m30s' },
    want: [],
  },
  {
    name: 'format date-time',
    schema: obj({ t: { type: 'string', format: 'date-time' } }),
    value: { t: 'yesterday' },
    want: ['t: Invalid value: "yesterday": t in body must be of type date-time: "yesterday"'],
  },
  {
    name: 'format date-time ok',
    schema: obj({ t: { type: 'string', format: 'date-time' } }),
    value: { t: '2026-12-07T08:00:00Z' },
    want: [],
  },
  {
    name: 'format ipv4',
    schema: obj({ ip: { type: 'string', format: 'ipv4' } }),
    value: { ip: '10.0.0.256' },
    want: ['ip: Invalid value: "10.0.0.256": ip in body must be of type ipv4: "10.0.0.256"'],
  },
  { name: 'unknown formats are not checked', schema: obj({ x: { type: 'string', format: 'color' } }), value: { x: '??' }, want: [] },
  { name: 'format int32 is not a range check', schema: obj({ n: { type: 'integer', format: 'int32' } }), value: { n: 2 ** 40 }, want: [] },
  {
    name: 'minItems',
    schema: obj({ refs: { type: 'array', minItems: 1, items: { type: 'string' } } }),
    value: { refs: [] },
    want: ['refs: Invalid value: 0: refs in body should have at least 1 items'],
  },
  {
    name: 'maxItems',
    schema: obj({ refs: { type: 'array', maxItems: 2, items: { type: 'string' } } }),
    value: { refs: ['a', 'b', 'c'] },
    want: ['refs: Too many: 3: must have at most 2 items'],
  },
  {
    name: 'uniqueItems',
    schema: obj({ refs: { type: 'array', uniqueItems: true } }),
    value: { refs: [{ a: 1 }, { a: 1 }] },
    want: [`refs: Invalid value: "": refs in body shouldn't contain duplicates`],
  },
  {
    name: 'minProperties',
    schema: obj({ spec: obj({ a: { type: 'string' } }, { minProperties: 1 }) }),
    value: { spec: {} },
    want: ['spec: Invalid value: 0: spec in body should have at least 1 properties'],
  },
  {
    name: 'maxProperties',
    schema: obj({ m: { type: 'object', maxProperties: 1, additionalProperties: { type: 'string' } } }),
    value: { m: { a: 'x', b: 'y' } },
    want: ['m: Too many: 2: must have at most 1 items'],
  },
  {
    name: 'additionalProperties schema',
    schema: obj({ m: { type: 'object', additionalProperties: { type: 'integer' } } }),
    value: { m: { a: 1, b: 'two' } },
    want: ['m.b: Invalid value: "string": m.b in body must be of type integer: "string"'],
  },
  {
    name: 'items are checked with their index',
    schema: obj({ o: { type: 'array', items: obj({ rps: { type: 'integer', minimum: 1 } }, { required: ['rps'] }) } }),
    value: { o: [{ rps: 1 }, {}, { rps: -1 }] },
    want: ['o[1].rps: Required value', 'o[2].rps: Invalid value: -1: o[2].rps in body should be greater than or equal to 1'],
  },
  {
    name: 'oneOf with both',
    schema: obj({
      abort: obj(
        { httpStatus: { type: 'integer' }, grpcStatus: { 'x-kubernetes-int-or-string': true } },
        { oneOf: [{ required: ['httpStatus'] }, { required: ['grpcStatus'] }] },
      ),
    }),
    value: { abort: { httpStatus: 503, grpcStatus: 14 } },
    want: [': Invalid value: "": "abort" must validate one and only one schema (oneOf). Found 2 valid alternatives'],
  },
  {
    name: 'oneOf with none brings the closest alternative',
    schema: obj({
      abort: obj({ httpStatus: { type: 'integer' } }, { oneOf: [{ required: ['httpStatus'] }, { required: ['grpcStatus'] }] }),
    }),
    value: { abort: {} },
    want: [
      ': Invalid value: "": "abort" must validate one and only one schema (oneOf). Found none valid',
      'abort.httpStatus: Required value',
    ],
  },
  {
    name: 'oneOf with exactly one',
    schema: obj({ abort: obj({}, { oneOf: [{ required: ['httpStatus'] }, { required: ['grpcStatus'] }] }) }),
    value: { abort: { grpcStatus: 'UNAVAILABLE' } },
    want: [],
  },
  {
    name: 'anyOf',
    schema: obj({ spec: obj({}, { anyOf: [{ required: ['a'] }, { required: ['b'] }] }) }),
    value: { spec: {} },
    want: [': Invalid value: "": "spec" must validate at least one schema (anyOf)', 'spec.a: Required value'],
  },
  {
    name: 'allOf',
    schema: obj({ n: { type: 'integer', allOf: [{ minimum: 1 }, { maximum: 5 }] } }),
    value: { n: 9 },
    want: [
      ': Invalid value: "": "n" must validate all the schemas (allOf)',
      'n: Invalid value: 9: n in body should be less than or equal to 5',
    ],
  },
  {
    name: 'not',
    schema: obj({ spec: obj({}, { not: { required: ['legacy'] } }) }),
    value: { spec: { legacy: 1 } },
    want: [': Invalid value: "": "spec" must not validate the schema (not)'],
  },
  {
    name: 'a type error does not hide enum',
    schema: obj({ k: { type: 'string', enum: ['a'] } }),
    value: { k: 1 },
    want: ['k: Invalid value: "integer": k in body must be of type string: "integer"', 'k: Unsupported value: 1: supported values: "a"'],
  },
];

void describe('validateValue (kube-apiserver custom resource validation)', () => {
  for (const c of CASES) {
    void it(c.name, () => assert.deepEqual(errors(c.schema, c.value), c.want));
  }

  void it('gives each cause the Status reason kube-apiserver gives it', () => {
    const s = schema(
      obj({ a: { type: 'string', enum: ['x'] }, b: { type: 'string', maxLength: 1 }, c: { type: 'integer' } }, { required: ['d'] }),
    );
    const reasons = validateValue(s, { a: 'y', b: 'yy', c: 'z' }).map((e) => `${e.field} ${e.reason ?? ''}`);
    assert.deepEqual(reasons.sort(), [
      'a FieldValueNotSupported',
      'b FieldValueTooLong',
      'c FieldValueTypeInvalid',
      'd FieldValueRequired',
    ]);
  });

  void it('refuses schemas it cannot apply', () => {
    const problems: FieldError[] = [];
    parseSchema(obj({ a: { type: 'string', pattern: '([' }, b: { $ref: '#/x' } }), 'root', problems);
    assert.deepEqual(
      problems.map((p) => p.field),
      ['root.properties[a].pattern', 'root.properties[b].$ref'],
    );
  });
});

void describe('pruneUnknownFields (structural pruning)', () => {
  const s = schema(
    obj({
      apiVersion: { type: 'string' },
      spec: obj({
        limits: { type: 'array', items: obj({ rps: { type: 'integer' } }) },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        opaque: { type: 'object' },
        keep: { type: 'string', nullable: true },
        drop: { type: 'string' },
        embedded: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object' } } },
      }),
    }),
  );

  void it('drops undeclared fields and reports their paths', () => {
    const o: Record<string, unknown> = {
      apiVersion: 'v',
      kind: 'K',
      metadata: { name: 'n', anything: 1 },
      extra: true,
      spec: {
        limits: [{ rps: 1, burts: 2 }],
        labels: { a: 'b' },
        free: { any: { thing: 1 } },
        opaque: { gone: 1 },
        typo: 'x',
        embedded: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {}, other: 1 },
      },
    };
    const unknown = pruneUnknownFields(s, o);
    assert.deepEqual(unknown, ['extra', 'spec.limits[0].burts', 'spec.opaque.gone', 'spec.typo', 'spec.embedded.other']);
    assert.deepEqual(o, {
      apiVersion: 'v',
      kind: 'K',
      metadata: { name: 'n', anything: 1 },
      spec: {
        limits: [{ rps: 1 }],
        labels: { a: 'b' },
        free: { any: { thing: 1 } },
        opaque: {},
        embedded: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} },
      },
    });
  });

  void it('drops nulls of fields that are not nullable, silently', () => {
    const o: Record<string, unknown> = { spec: { keep: null, drop: null } };
    assert.deepEqual(pruneUnknownFields(s, o), []);
    assert.deepEqual(o, { spec: { keep: null } });
  });
});
