import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { loadManifests } from '../manifest/load.ts';
import { ApiError } from '../store/api-error.ts';
import { ObjectStore } from '../store/object-store.ts';
import { crdDir, installCrds, readCrds } from './crds.ts';

/** deploy/crds: valid apiextensions.k8s.io/v1 CRDs with structural schemas, and what their schemas accept. */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const crds = readCrds(crdDir(REPO));

// apiextensions.k8s.io/v1 JSONSchemaProps fields: anything else in a schema is a typo kube-apiserver would refuse.
const SCHEMA_KEYS = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties',
  'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties',
  'example', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type',
  'x-kubernetes-validations',
]); // prettier-ignore
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTOR_FORBIDDEN = ['type', 'description', 'default', 'additionalProperties', 'nullable', 'x-kubernetes-int-or-string'];

/**
 * The rules of a structural schema (Kubernetes docs, "Specifying a structural schema"), as far as these CRDs can break
 * them: a type on every node (or int-or-string / preserve-unknown-fields), no type or description inside junctors,
 * required names that exist, known keywords only, no CEL (issue 14 asks for schemas without it).
 */
function structuralProblems(node: unknown, path: string, inJunctor: boolean): string[] {
  if (!isRecord(node)) return [`${path}: not an object`];
  const out: string[] = [];
  for (const k of Object.keys(node)) if (!SCHEMA_KEYS.has(k)) out.push(`${path}: unknown keyword ${k}`);
  if (node['x-kubernetes-validations'] !== undefined) out.push(`${path}: CEL rules are not used here`);
  if (inJunctor) {
    for (const k of JUNCTOR_FORBIDDEN) if (node[k] !== undefined) out.push(`${path}: ${k} inside a junctor`);
  } else {
    const typed = typeof node['type'] === 'string' && TYPES.has(node['type']);
    if (!typed && node['x-kubernetes-int-or-string'] !== true && node['x-kubernetes-preserve-unknown-fields'] !== true) {
      out.push(`${path}: no type`);
    }
  }
  const properties = isRecord(node['properties']) ? node['properties'] : {};
  for (const r of Array.isArray(node['required']) ? node['required'] : []) {
    if (!inJunctor && typeof r === 'string' && !Object.hasOwn(properties, r)) out.push(`${path}: required ${r} is not a property`);
  }
  for (const [k, v] of Object.entries(properties)) out.push(...structuralProblems(v, `${path}.properties[${k}]`, inJunctor));
  if (node['items'] !== undefined) out.push(...structuralProblems(node['items'], `${path}.items`, inJunctor));
  for (const j of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = node[j];
    if (Array.isArray(list)) list.forEach((s, i) => out.push(...structuralProblems(s, `${path}.${j}[${i}]`, true)));
  }
  if (node['not'] !== undefined) out.push(...structuralProblems(node['not'], `${path}.not`, true));
  return out;
}

function record(v: unknown): Record<string, unknown> {
  assert.ok(isRecord(v), `expected an object, got ${JSON.stringify(v)}`);
  return v;
}

function freshStore(): ObjectStore {
  const store = new ObjectStore({ namespaces: ['default', 'ns'] });
  installCrds(store, crds);
  return store;
}

void describe('deploy/crds', () => {
  void it('holds the two ambit.dev CRDs the kustomization lists', () => {
    assert.deepEqual(
      crds.map((c) => c.metadata.name),
      ['localratelimits.ambit.dev', 'httpfaults.ambit.dev'],
    );
  });

  for (const crd of crds) {
    void it(`${crd.metadata.name ?? ''}: namespaced v1alpha1 with status, short names, printer columns and a structural schema`, () => {
      assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
      const spec = record(crd['spec']);
      assert.equal(spec['group'], 'ambit.dev');
      assert.equal(spec['scope'], 'Namespaced');
      const names = record(spec['names']);
      assert.equal(`${String(names['plural'])}.ambit.dev`, crd.metadata.name);
      assert.ok(Array.isArray(names['shortNames']) && names['shortNames'].length > 0);
      assert.equal(names['listKind'], `${String(names['kind'])}List`);
      const versions = spec['versions'];
      assert.ok(Array.isArray(versions) && versions.length === 1);
      const v = record(versions[0]);
      assert.equal(v['name'], 'v1alpha1');
      assert.equal(v['served'], true);
      assert.equal(v['storage'], true);
      assert.deepEqual(record(v['subresources'])['status'], {});
      const columns = v['additionalPrinterColumns'];
      assert.ok(Array.isArray(columns));
      assert.deepEqual(columns.map((c) => record(c)['name']).slice(-1), ['Age']);
      const schema = record(record(v['schema'])['openAPIV3Schema']);
      assert.deepEqual(structuralProblems(schema, 'openAPIV3Schema', false), []);
      assert.deepEqual(record(schema['properties'])['metadata'], { type: 'object' });
    });
  }

  void it('the local API accepts them as CRDs and serves their kinds under their short names', () => {
    const store = freshStore();
    assert.equal(store.types.resolve('lrl')?.kind, 'LocalRateLimit');
    assert.equal(store.types.resolve('hf')?.kind, 'HTTPFault');
    assert.equal(store.types.resolve('localratelimits.ambit.dev')?.hasStatus, true);
    // Installing again (a cluster restarted on a newer checkout) updates in place.
    installCrds(store, crds);
    const crdType = store.typeOf({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' });
    assert.equal(store.list(crdType).items.length, 2);
  });

  void it('their schemas accept the examples (examples/ambit-kinds)', () => {
    const store = freshStore();
    const examples = loadManifests([
      join(REPO, 'examples', 'ambit-kinds', 'local-rate-limit.yaml'),
      join(REPO, 'examples', 'ambit-kinds', 'http-fault.yaml'),
    ]);
    assert.equal(examples.length, 3);
    for (const e of examples) {
      const stored = store.create(e.object);
      // Nothing was pruned: the examples only use declared fields.
      assert.deepEqual(stored['spec'], e.object['spec']);
    }
  });

  const lrl = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'LocalRateLimit',
    metadata: { name: 'x', namespace: 'default' },
    spec: { targetRef: { group: '', kind: 'Service', name: 'reviews' }, ...spec },
  });
  const hf = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'HTTPFault',
    metadata: { name: 'x', namespace: 'default' },
    spec,
  });
  const BAD: ReadonlyArray<{ name: string; object: KubeObject; causes: readonly string[] }> = [
    {
      name: 'rps 0',
      object: lrl({ total: { requestsPerSecond: 0 } }),
      causes: ['spec.total.requestsPerSecond: Invalid value: 0: spec.total.requestsPerSecond in body should be greater than or equal to 1'],
    },
    {
      name: 'no target',
      object: { ...lrl({}), spec: { total: { requestsPerSecond: 1 } } },
      causes: ['spec.targetRef: Required value'],
    },
    {
      name: 'a Deployment target',
      object: lrl({ targetRef: { kind: 'Deployment', name: 'reviews' } }),
      causes: ['spec.targetRef.kind: Unsupported value: "Deployment": supported values: "Service"'],
    },
    {
      name: 'burst as a string',
      object: lrl({ identity: { requestsPerSecond: 5, burst: 'two' } }),
      causes: ['spec.identity.burst: Invalid value: "string": spec.identity.burst in body must be of type integer: "string"'],
    },
    {
      name: 'an override without clients',
      object: lrl({ overrides: [{ requestsPerSecond: 20, clientRefs: [] }] }),
      causes: ['spec.overrides[0].clientRefs: Invalid value: 0: spec.overrides[0].clientRefs in body should have at least 1 items'],
    },
    {
      name: 'a bad duration',
      object: hf({ delay: { fixedDelay: '0.2s' } }),
      causes: [`spec.delay.fixedDelay: Invalid value: "0.2s": spec.delay.fixedDelay in body should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'`],
    },
    {
      name: 'a delay without fixedDelay',
      object: hf({ delay: { percentage: { value: 10 } } }),
      causes: ['spec.delay.fixedDelay: Required value'],
    },
    {
      name: 'a percentage over 100',
      object: hf({ abort: { percentage: { value: 101 }, httpStatus: 503 } }),
      causes: ['spec.abort.percentage.value: Invalid value: 101: spec.abort.percentage.value in body should be less than or equal to 100'],
    },
    {
      name: 'httpStatus 600',
      object: hf({ abort: { httpStatus: 600 } }),
      causes: ['spec.abort.httpStatus: Invalid value: 600: spec.abort.httpStatus in body should be less than or equal to 599'],
    },
    {
      name: 'both httpStatus and grpcStatus',
      object: hf({ abort: { httpStatus: 503, grpcStatus: 14 } }),
      causes: [': Invalid value: "": "spec.abort" must validate one and only one schema (oneOf). Found 2 valid alternatives'],
    },
    {
      name: 'neither httpStatus nor grpcStatus',
      object: hf({ abort: { percentage: { value: 5 } } }),
      causes: [
        ': Invalid value: "": "spec.abort" must validate one and only one schema (oneOf). Found none valid',
        'spec.abort.httpStatus: Required value',
      ],
    },
    {
      name: 'an unknown gRPC code',
      object: hf({ abort: { grpcStatus: 17 } }),
      causes: [
        'spec.abort.grpcStatus: Unsupported value: 17: supported values: "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"',
      ],
    },
    {
      name: 'an empty spec',
      object: hf({}),
      causes: ['spec: Invalid value: 0: spec in body should have at least 1 properties'],
    },
  ];
  for (const c of BAD) {
    void it(`their schemas refuse ${c.name}, naming the field`, () => {
      const store = freshStore();
      assert.throws(
        () => store.create(c.object),
        (err: unknown) => {
          assert.ok(err instanceof ApiError);
          assert.equal(err.status, 422);
          assert.deepEqual(
            (err.details?.causes ?? []).map((x) => `${x.field}: ${x.message}`),
            c.causes,
          );
          assert.match(err.message, new RegExp(`^${c.object.kind}\\.ambit\\.dev "x" is invalid: `));
          return true;
        },
      );
    });
  }

  void it('gRPC codes by number and by name are both accepted', () => {
    const store = freshStore();
    store.create(hf({ abort: { grpcStatus: 14 } }));
    store.create({ ...hf({ abort: { grpcStatus: 'DEADLINE_EXCEEDED' } }), metadata: { name: 'y', namespace: 'default' } });
  });
});
