import { createHash } from 'node:crypto';
import { isRecord } from '@ambit/core';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { apiVersionOf } from '../store/resource-types.ts';
import { ModelSchemas, modelFile, type Schema } from './openapi-models.ts';

/**
 * OpenAPI v3 (`/openapi/v3`) for the group/versions that CRDs with schemas serve, built from the CRDs as
 * kube-apiserver builds its CRD specs. Two clients read it: `kubectl create/apply/replace` check there that the
 * server validates fields itself (a PATCH operation with a `fieldValidation` parameter for the kind) and then send
 * `fieldValidation=Strict` instead of validating on the client, and `kubectl explain` renders the schema. Built-in
 * kinds get theirs from the maintained schema packages (`openapi-models.ts`), built on first request and cached.
 */

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const STRING = { type: 'string' };

/** One kind of a group/version as the document describes it, with the component names of the kind and its list. */
interface KindEntry {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly obj: string;
  readonly list: string;
}

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

function pathsFor(c: KindEntry): Record<string, unknown> {
  const gvk = { group: c.group, version: c.version, kind: c.kind };
  const { obj, list } = c;
  const body = (name: string): Record<string, unknown> => ({ content: { 'application/json': { schema: ref(name) } } });
  const op = (action: string, params: string[], schema: string, request?: string): Record<string, unknown> => ({
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    parameters: params.map(query),
    ...(request === undefined ? {} : { requestBody: body(request) }),
    responses: { '200': { description: 'OK', ...body(schema) } },
  });
  const write = ['dryRun', 'fieldManager', 'fieldValidation'];
  const prefix = c.group === '' ? `/api/${c.version}` : `/apis/${c.group}/${c.version}`;
  const base = `${prefix}${c.namespaced ? '/namespaces/{namespace}' : ''}/${c.plural}`;
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
      // No strategic-merge-patch+json here: kubectl would then compute such patches from this schema, which lacks
      // the patch strategies; without it kubectl builds them from its compiled-in types, as before.
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
    [componentName(c.group, c.version, c.listKind)]: listSchema(c.group, c.version, c.listKind, componentName(c.group, c.version, c.kind)),
  };
}

function listSchema(group: string, version: string, listKind: string, item: string): Schema {
  return {
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: STRING,
      kind: STRING,
      items: { type: 'array', items: ref(item) },
      metadata: { allOf: [ref(`${META}.ListMeta`)] },
    },
    'x-kubernetes-group-version-kind': [{ group, version, kind: listKind }],
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

const crdEntry = (c: CrdVersion): KindEntry => ({
  ...c,
  obj: componentName(c.group, c.version, c.kind),
  list: componentName(c.group, c.version, c.listKind),
});

/** Built-in kinds of a group/version that a schema package covers, with their schemas; cached per kind set. */
interface BuiltinPart {
  readonly entries: readonly KindEntry[];
  readonly schemas: Readonly<Record<string, Schema>>;
}

function builtinPart(types: readonly ResourceType[]): BuiltinPart {
  const models = new ModelSchemas();
  const entries: KindEntry[] = [];
  for (const t of types) {
    const gv = apiVersionOf(t);
    const kindFile = modelFile(gv, t.kind);
    if (kindFile === undefined) continue;
    const gvk = (kind: string): Schema => ({ group: t.group, version: t.version, kind });
    const obj = models.kind(kindFile, t.kind, gvk(t.kind));
    if (obj === undefined) continue;
    // Istio's package has no list kinds: describe those as kube-apiserver does for CRDs.
    const listFile = modelFile(gv, `${t.kind}List`);
    const listKind = `${t.kind}List`;
    const list = (listFile === undefined ? undefined : models.kind(listFile, listKind, gvk(listKind))) ?? `${obj}List`;
    if (listFile === undefined) models.components.set(list, listSchema(t.group, t.version, listKind, obj));
    entries.push({ group: t.group, version: t.version, kind: t.kind, plural: t.plural, namespaced: t.namespaced, obj, list });
  }
  return { entries, schemas: Object.fromEntries(models.components) };
}

/**
 * `/openapi/v3` and its per-group-version documents over one store. Built-in kinds' schemas are parsed once per
 * process on first request (a few hundred ms), never at start-up; CRD schemas are read from the store each time.
 */
export class OpenApi {
  private readonly builtins = new Map<string, BuiltinPart>();

  constructor(private readonly store: ObjectStore) {}

  /** Built-in (not CRD-served) types of a group/version that a schema package covers. */
  private builtinTypes(group: string, version: string): ResourceType[] {
    const crdKinds = new Set(
      crdVersions(this.store)
        .filter((c) => c.group === group && c.version === version)
        .map((c) => c.kind),
    );
    return this.store.types
      .inGroupVersion(group, version)
      .filter((t) => t.schema === undefined && !crdKinds.has(t.kind) && modelFile(apiVersionOf(t), t.kind) !== undefined);
  }

  private builtinPart(group: string, version: string): BuiltinPart | undefined {
    const types = this.builtinTypes(group, version);
    if (types.length === 0) return undefined;
    const key = `${group}/${version}:${types.map((t) => t.kind).join(',')}`;
    let part = this.builtins.get(key);
    if (part === undefined) {
      part = builtinPart(types);
      this.builtins.set(key, part);
    }
    return part;
  }

  /** The OpenAPI document of one group/version (`''` is the core group), or undefined when nothing with a schema serves it. */
  document(group: string, version: string): Record<string, unknown> | undefined {
    const crds = crdVersions(this.store).filter((c) => c.group === group && c.version === version);
    const builtin = this.builtinPart(group, version);
    if (crds.length === 0 && builtin === undefined) return undefined;
    const entries = [...(builtin?.entries ?? []), ...crds.map(crdEntry)];
    return {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: 'v1.32.0-ambit' },
      paths: Object.assign({}, ...entries.map(pathsFor)) as Record<string, unknown>,
      components: {
        schemas: Object.assign({ ...META_SCHEMAS }, builtin?.schemas ?? {}, ...crds.map(schemasFor)) as Record<string, unknown>,
      },
    };
  }

  /**
   * `/openapi/v3`: where each group/version's document is, with a hash that changes with it (kubectl caches by URL).
   * The hash of built-in kinds covers the kinds served and the schema packages' versions, so listing does not parse.
   */
  root(): Record<string, unknown> {
    const paths: Record<string, unknown> = {};
    const gvs = new Set(crdVersions(this.store).map((c) => `${c.group}/${c.version}`));
    for (const t of this.store.types.all()) if (this.builtinTypes(t.group, t.version).length > 0) gvs.add(`${t.group}/${t.version}`);
    for (const gv of [...gvs].sort()) {
      const [group = '', version = ''] = gv.split('/');
      const crds = crdVersions(this.store).filter((c) => c.group === group && c.version === version);
      const builtin = this.builtinTypes(group, version).map((t) => t.kind);
      const hash = createHash('sha512')
        .update(JSON.stringify({ crds, builtin, models: ModelSchemas.versions() }))
        .digest('hex')
        .slice(0, 64)
        .toUpperCase();
      const path = group === '' ? `api/${version}` : `apis/${gv}`;
      paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
    }
    return { paths };
  }
}
