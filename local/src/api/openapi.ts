import { createHash } from 'node:crypto';
import { isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { ObjectStore } from '../store/object-store.ts';

/**
 * OpenAPI v3 (`/openapi/v3`) for the group/versions that CRDs with schemas serve, built from the CRDs as
 * kube-apiserver builds its CRD specs. Two clients read it: `kubectl create/apply/replace` check there that the
 * server validates fields itself (a PATCH operation with a `fieldValidation` parameter for the kind) and then send
 * `fieldValidation=Strict` instead of validating on the client, and `kubectl explain` renders the schema. Built-in
 * kinds have no schema here, so they stay out of the document (kubectl then needs `--validate=false` for them).
 */

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const STRING = { type: 'string' };

interface CrdVersion {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly schema: Record<string, unknown>;
}

function crdVersions(store: ObjectStore): CrdVersion[] {
  const type = store.typeOf({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' });
  return store.list(type).items.flatMap((crd: KubeObject) => {
    const spec = isRecord(crd['spec']) ? crd['spec'] : {};
    const names = isRecord(spec['names']) ? spec['names'] : {};
    const { group } = spec;
    const { kind, plural } = names;
    if (typeof group !== 'string' || typeof kind !== 'string' || typeof plural !== 'string') return [];
    const listKind = typeof names['listKind'] === 'string' ? names['listKind'] : `${kind}List`;
    return (Array.isArray(spec['versions']) ? spec['versions'] : []).flatMap((v) => {
      if (!isRecord(v) || typeof v['name'] !== 'string' || v['served'] === false) return [];
      const schema = isRecord(v['schema']) ? v['schema']['openAPIV3Schema'] : undefined;
      if (!isRecord(schema)) return [];
      return [{ group, version: v['name'], kind, listKind, plural, namespaced: spec['scope'] !== 'Cluster', schema }];
    });
  });
}

/** Component name as kube-apiserver writes it: the group reversed (`ambit.dev` → `dev.ambit`), version, kind. */
function componentName(group: string, version: string, kind: string): string {
  return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
}

const ref = (name: string): Record<string, unknown> => ({ $ref: `#/components/schemas/${name}` });
const query = (name: string): Record<string, unknown> => ({ name, in: 'query', schema: STRING, uniqueItems: true });

function pathsFor(c: CrdVersion): Record<string, unknown> {
  const gvk = { group: c.group, version: c.version, kind: c.kind };
  const obj = componentName(c.group, c.version, c.kind);
  const list = componentName(c.group, c.version, c.listKind);
  const body = (name: string): Record<string, unknown> => ({ content: { 'application/json': { schema: ref(name) } } });
  const op = (action: string, params: string[], schema: string, request?: string): Record<string, unknown> => ({
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    parameters: params.map(query),
    ...(request === undefined ? {} : { requestBody: body(request) }),
    responses: { '200': { description: 'OK', ...body(schema) } },
  });
  const write = ['dryRun', 'fieldManager', 'fieldValidation'];
  const base = `/apis/${c.group}/${c.version}${c.namespaced ? '/namespaces/{namespace}' : ''}/${c.plural}`;
  const pathParams = (named: boolean): Array<Record<string, unknown>> => [
    ...(named ? [{ name: 'name', in: 'path', required: true, schema: STRING, uniqueItems: true }] : []),
    ...(c.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: STRING, uniqueItems: true }] : []),
  ];
  return {
    [base]: {
      parameters: pathParams(false),
      get: op('list', ['labelSelector', 'fieldSelector', 'watch'], list),
      post: op('post', write, obj, obj),
    },
    [`${base}/{name}`]: {
      parameters: pathParams(true),
      get: op('get', [], obj),
      put: op('put', write, obj, obj),
      patch: op('patch', [...write, 'force'], obj, `${META}.Patch`),
      delete: op('delete', ['dryRun', 'gracePeriodSeconds', 'propagationPolicy'], `${META}.Status`),
    },
  };
}

function schemasFor(c: CrdVersion): Record<string, unknown> {
  const gvk = [{ group: c.group, version: c.version, kind: c.kind }];
  const props = isRecord(c.schema['properties']) ? c.schema['properties'] : {};
  const describe = (d: string): Record<string, unknown> => ({ type: 'string', description: d });
  return {
    [componentName(c.group, c.version, c.kind)]: {
      ...c.schema,
      properties: {
        ...props,
        apiVersion: describe('APIVersion defines the versioned schema of this representation of an object.'),
        kind: describe('Kind is a string value representing the REST resource this object represents.'),
        metadata: { description: "Standard object's metadata.", allOf: [ref(`${META}.ObjectMeta`)] },
      },
      'x-kubernetes-group-version-kind': gvk,
    },
    [componentName(c.group, c.version, c.listKind)]: {
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: STRING,
        kind: STRING,
        items: { type: 'array', items: ref(componentName(c.group, c.version, c.kind)) },
        metadata: { allOf: [ref(`${META}.ListMeta`)] },
      },
      'x-kubernetes-group-version-kind': [{ group: c.group, version: c.version, kind: c.listKind }],
    },
  };
}

const META_SCHEMAS = {
  [`${META}.ObjectMeta`]: {
    description: 'ObjectMeta is metadata that all persisted resources must have.',
    type: 'object',
    properties: {
      name: describeString('Name must be unique within a namespace.'),
      namespace: describeString('Namespace defines the space within which each name must be unique.'),
      labels: { type: 'object', additionalProperties: STRING, description: 'Map of string keys and values.' },
      annotations: { type: 'object', additionalProperties: STRING, description: 'Unstructured key value map.' },
    },
  },
  [`${META}.ListMeta`]: { type: 'object', properties: { resourceVersion: STRING, continue: STRING } },
  [`${META}.Patch`]: { type: 'object', description: 'Patch is provided to give a concrete name and type to the patch body.' },
  [`${META}.Status`]: { type: 'object', description: 'Status is a return value for calls that do not return other objects.' },
};

function describeString(description: string): Record<string, unknown> {
  return { type: 'string', description };
}

/** The OpenAPI document of one group/version, or undefined when no CRD with a schema serves it. */
export function openApiV3Document(store: ObjectStore, group: string, version: string): Record<string, unknown> | undefined {
  const served = crdVersions(store).filter((c) => c.group === group && c.version === version);
  if (served.length === 0) return undefined;
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes CRD Swagger', version: 'v0.1.0' },
    paths: Object.assign({}, ...served.map(pathsFor)) as Record<string, unknown>,
    components: { schemas: Object.assign({ ...META_SCHEMAS }, ...served.map(schemasFor)) as Record<string, unknown> },
  };
}

/** `/openapi/v3`: where each group/version's document is, with a hash that changes with it (clients cache by URL). */
export function openApiV3Root(store: ObjectStore): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const gvs = new Set(crdVersions(store).map((c) => `${c.group}/${c.version}`));
  for (const gv of [...gvs].sort()) {
    const [group = '', version = ''] = gv.split('/');
    const doc = openApiV3Document(store, group, version);
    const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 64).toUpperCase();
    paths[`apis/${gv}`] = { serverRelativeURL: `/openapi/v3/apis/${gv}?hash=${hash}` };
  }
  return { paths };
}
