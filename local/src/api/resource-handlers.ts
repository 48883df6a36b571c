import type { IncomingMessage, ServerResponse } from 'node:http';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import type { FieldValidation, SchemaCheckOptions } from '../store/custom-resource.ts';
import type { DeleteOptions, ObjectStore } from '../store/object-store.ts';
import { apiVersionOf } from '../store/resource-types.ts';
import { managerFromUserAgent, serverSideApply, trackUpdate } from '../store/server-side-apply.ts';
import { applyJsonPatch } from '../store/json-patch.ts';
import { applyStrategicMergePatch, KUBERNETES_GROUPS } from '../store/strategic-merge-patch.ts';
import { mediaType, negotiate, parseBody, readBody, sendJson } from './http-io.ts';
import type { ResourceRoute } from './resource-routes.ts';
import { parseIncludeObject, toTable } from './tables.ts';
import { serveWatch } from './watch-stream.ts';
import { handleScale } from './scale.ts';

/** What a resource request needs besides the request itself. */
export interface ResourceContext {
  readonly store: ObjectStore;
  readonly maxBodyBytes: number;
  readonly bookmarkIntervalMs: number;
  /** Remembers a live watch so server shutdown can end it; returns the forget function. */
  readonly trackWatch: (end: () => void) => () => void;
  /** Serves `pods/<name>/log` of a pod (`container`, `tailLines`, `follow`, `previous`, …). */
  readonly serveLog: (pod: KubeObject, url: URL, res: ServerResponse) => Promise<void>;
}

const OBJECT_BODY_TYPES = ['application/json', 'application/yaml', ''];
const PATCH_TYPES = [
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
  'application/apply-patch+yaml',
];

function param(url: URL, name: string): string | undefined {
  const v = url.searchParams.get(name);
  return v === null ? undefined : v;
}

function isTrue(v: string | undefined): boolean {
  return v === '1' || v === 'true';
}

/** `dryRun=All` → true; absent → false; anything else is 400, as the real server answers. */
function dryRunOf(values: readonly unknown[]): boolean {
  let dry = false;
  for (const v of values) {
    if (v === 'All') dry = true;
    else if (v !== '' && v !== undefined) throw ApiError.badRequest(`Unsupported value: ${JSON.stringify(v)}: supported values: "All"`);
  }
  return dry;
}

const FIELD_VALIDATIONS: readonly FieldValidation[] = ['Ignore', 'Warn', 'Strict'];

/**
 * `fieldValidation` of a write: absent means `Warn`, kube-apiserver's default since 1.27. kubectl sends `Strict` when
 * it can tell (from OpenAPI) that the server supports the parameter, `Ignore` with `--validate=false`.
 */
function fieldValidationOf(url: URL, res: ServerResponse): SchemaCheckOptions {
  const v = param(url, 'fieldValidation');
  const mode = v === undefined || v === '' ? 'Warn' : FIELD_VALIDATIONS.find((m) => m === v);
  if (mode === undefined) {
    throw ApiError.badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", not ${JSON.stringify(v)}`);
  }
  // RFC 7234 warn-code 299 with the agent "-", as kube-apiserver sends them; kubectl prints `Warning: <text>`.
  const warn = (message: string): void => {
    const prior = res.getHeader('Warning');
    const list = Array.isArray(prior) ? prior : [];
    res.setHeader('Warning', [...list, `299 - ${JSON.stringify(message)}`]);
  };
  return { fieldValidation: mode, warn };
}

function intParam(url: URL, name: string): number | undefined {
  const v = param(url, name);
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw ApiError.badRequest(`invalid ${name}: "${v}" is not an integer`);
  return Number(v);
}

/**
 * A strategic merge patch equals a JSON merge patch exactly when it uses no `$` directives (`$patch`,
 * `$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`) and contains no lists: strategic merge merges some
 * lists by key (containers by name) and unions others (finalizers), where a merge patch replaces them. `kubectl
 * label`/`annotate`/`scale` send such map-only patches; anything else is refused rather than silently mis-applied.
 */
function plainMergeCompatible(v: unknown): boolean {
  if (Array.isArray(v)) return false;
  if (!isRecord(v)) return true;
  return Object.entries(v).every(([k, x]) => !k.startsWith('$') && plainMergeCompatible(x));
}

async function readObject(req: IncomingMessage, ctx: ResourceContext): Promise<Record<string, unknown>> {
  const body = parseBody(await readBody(req, ctx.maxBodyBytes), mediaType(req), OBJECT_BODY_TYPES);
  if (!isRecord(body)) throw ApiError.badRequest('the request body must be a JSON object');
  return body;
}

/** Checks the body against the URL (kind, namespace, name) and defaults what the URL determines. */
function bodyObject(route: ResourceRoute, body: Record<string, unknown>): KubeObject {
  const t = route.type;
  if (body['kind'] !== undefined && body['kind'] !== t.kind) {
    throw ApiError.badRequest(
      `the kind of the provided object (${String(body['kind'])}) does not match the kind of the resource (${t.kind})`,
    );
  }
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== apiVersionOf(t)) {
    throw ApiError.badRequest(
      `the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${apiVersionOf(t)})`,
    );
  }
  const metadata = isRecord(body['metadata']) ? { ...body['metadata'] } : {};
  if (route.namespace !== undefined) {
    if (metadata['namespace'] !== undefined && metadata['namespace'] !== '' && metadata['namespace'] !== route.namespace) {
      throw ApiError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    metadata['namespace'] = route.namespace;
  }
  if (route.name !== undefined && metadata['name'] !== undefined && metadata['name'] !== route.name) {
    throw ApiError.badRequest(`the name of the object (${String(metadata['name'])}) does not match the name on the URL (${route.name})`);
  }
  if (route.name !== undefined) metadata['name'] = route.name;
  return { ...body, apiVersion: apiVersionOf(t), kind: t.kind, metadata } as KubeObject;
}

function deleteOptions(url: URL, body: unknown): DeleteOptions {
  const b = isRecord(body) ? body : {};
  const grace = typeof b['gracePeriodSeconds'] === 'number' ? b['gracePeriodSeconds'] : intParam(url, 'gracePeriodSeconds');
  const policy = typeof b['propagationPolicy'] === 'string' ? b['propagationPolicy'] : param(url, 'propagationPolicy');
  if (policy !== undefined && policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
    throw ApiError.badRequest(`Unsupported value: "${policy}": supported values: "Background", "Foreground", "Orphan"`);
  }
  const pre = isRecord(b['preconditions']) ? b['preconditions'] : {};
  const preconditions: { uid?: string; resourceVersion?: string } = {};
  if (typeof pre['uid'] === 'string') preconditions.uid = pre['uid'];
  if (typeof pre['resourceVersion'] === 'string') preconditions.resourceVersion = pre['resourceVersion'];
  const dry = dryRunOf([...url.searchParams.getAll('dryRun'), ...(Array.isArray(b['dryRun']) ? b['dryRun'] : [])]);
  return {
    dryRun: dry,
    preconditions,
    ...(grace === undefined ? {} : { gracePeriodSeconds: grace }),
    ...(policy === undefined ? {} : { propagationPolicy: policy }),
  };
}

/**
 * Field ownership of a non-apply write: the `fieldManager` parameter, else the client's User-Agent name, gets an
 * Update entry in managedFields for what the write changes.
 */
function fieldOwnership(
  t: ResourceType,
  req: IncomingMessage,
  url: URL,
  subresource: string | undefined,
): { manageFields?: (old: KubeObject | undefined, next: KubeObject) => readonly unknown[] | undefined } {
  const manager = param(url, 'fieldManager') ?? managerFromUserAgent(req.headers['user-agent']);
  if (manager === '' || (subresource !== undefined && subresource !== 'status')) return {};
  const sub = subresource === 'status' ? 'status' : undefined;
  return { manageFields: (old, next) => trackUpdate(t, old, next, manager, sub, new Date()) };
}

/** Problems with a PATCH's options are reported against meta.k8s.io PatchOptions, as kube-apiserver does. */
const PATCH_OPTIONS = { group: 'meta.k8s.io', plural: 'patchoptions', kind: 'PatchOptions' };

/**
 * Server-side apply (`PATCH application/apply-patch+yaml`, kubectl `apply --server-side`): creates the object when it
 * is missing (201), else merges the configuration with field ownership (store/server-side-apply.ts).
 */
async function serveApply(
  ctx: ResourceContext,
  route: ResourceRoute,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  dryRun: boolean,
) {
  const t = route.type;
  const manager = param(url, 'fieldManager');
  if (manager === undefined || manager === '') {
    throw ApiError.invalid(PATCH_OPTIONS, '', [
      { field: 'fieldManager', message: 'Required value: is required for apply patch', reason: 'FieldValueRequired' },
    ]);
  }
  const force = param(url, 'force');
  if (force !== undefined && force !== 'true' && force !== 'false' && force !== '1' && force !== '0') {
    throw ApiError.badRequest(`invalid force: ${JSON.stringify(force)} is not a boolean`);
  }
  // An apply configuration is YAML (JSON is YAML too).
  const raw = parseBody(await readBody(req, ctx.maxBodyBytes), 'application/yaml', ['application/yaml']);
  if (!isRecord(raw)) throw ApiError.badRequest('the apply configuration must be an object');
  if (typeof raw['apiVersion'] !== 'string' || raw['apiVersion'] === '')
    throw ApiError.badRequest("Object 'apiVersion' is missing in the apply configuration");
  if (typeof raw['kind'] !== 'string' || raw['kind'] === '')
    throw ApiError.badRequest("Object 'Kind' is missing in the apply configuration");
  const config = bodyObject(route, raw);
  const name = route.name ?? '';
  const live = ctx.store.find(t, route.namespace, name);
  if (live === undefined && route.subresource !== undefined) throw ApiError.notFound(t, name);
  const obj = serverSideApply({
    type: t,
    live,
    config,
    manager,
    force: force === 'true' || force === '1',
    subresource: route.subresource === 'status' ? 'status' : undefined,
    now: new Date(),
  });
  const opts = { dryRun, ...fieldValidationOf(url, res) };
  if (live === undefined) {
    sendJson(res, 201, ctx.store.create(obj, opts));
    return;
  }
  // Compare-and-swap against the version the merge was computed from.
  obj.metadata.resourceVersion = live.metadata.resourceVersion ?? '';
  sendJson(res, 200, ctx.store.update(obj, route.subresource === 'status' ? { ...opts, subresource: 'status' } : opts));
}

/** GET/POST/PUT/PATCH/DELETE on a resolved resource path. */
export async function handleResource(
  ctx: ResourceContext,
  route: ResourceRoute,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const { store } = ctx;
  const t = route.type;
  const method = req.method ?? 'GET';
  const dryRun = (): boolean => dryRunOf(url.searchParams.getAll('dryRun'));
  const watching = route.watchPath || isTrue(param(url, 'watch'));
  const readOnly = method === 'GET' || method === 'HEAD';
  const rep = negotiate(req.headers.accept, readOnly);
  const tableOf = (objects: KubeObject[], resourceVersion: string): KubeObject | undefined =>
    rep.kind === 'table'
      ? toTable(t, objects, {
          apiVersion: rep.apiVersion,
          includeObject: parseIncludeObject(url.searchParams.get('includeObject')),
          resourceVersion,
          now: new Date(),
        })
      : undefined;

  if (watching && method !== 'GET') throw ApiError.methodNotAllowed();
  // A subresource path always names its object (`<plural>/<name>/<sub>`).
  if (route.subresource === 'scale') return handleScale(store, t, route.namespace, route.name ?? '', req, res, ctx.maxBodyBytes, dryRun());
  if (route.subresource === 'log') {
    if (method !== 'GET') throw ApiError.methodNotAllowed();
    return ctx.serveLog(store.get(t, route.namespace, route.name ?? ''), url, res);
  }
  if (route.subresource === 'status' && !['GET', 'PUT', 'PATCH'].includes(method)) throw ApiError.methodNotAllowed();

  switch (method) {
    case 'GET': {
      const labelSelector = param(url, 'labelSelector');
      let fieldSelector = param(url, 'fieldSelector');
      if (watching) {
        // A watch on a named path is a watch of that one object.
        if (route.name !== undefined)
          fieldSelector = [fieldSelector, `metadata.name=${route.name}`].filter((s) => s !== undefined && s !== '').join(',');
        const timeoutSeconds = intParam(url, 'timeoutSeconds');
        const end = serveWatch(
          {
            store,
            type: t,
            namespace: route.namespace,
            labelSelector,
            fieldSelector,
            resourceVersion: param(url, 'resourceVersion'),
            sendInitialEvents: isTrue(param(url, 'sendInitialEvents')),
            allowBookmarks: isTrue(param(url, 'allowWatchBookmarks')),
            bookmarkIntervalMs: ctx.bookmarkIntervalMs,
            timeoutMs: timeoutSeconds === undefined || timeoutSeconds <= 0 ? undefined : timeoutSeconds * 1000,
            table:
              rep.kind === 'table'
                ? { apiVersion: rep.apiVersion, includeObject: parseIncludeObject(url.searchParams.get('includeObject')) }
                : undefined,
          },
          res,
        );
        const forget = ctx.trackWatch(end);
        res.on('close', forget);
        return;
      }
      if (route.name !== undefined) {
        const obj = store.get(t, route.namespace, route.name);
        sendJson(res, 200, tableOf([obj], obj.metadata.resourceVersion ?? '') ?? obj);
        return;
      }
      // `limit` is accepted and ignored: the whole list is one page, so there is never a `continue` token.
      const list = store.list(t, { namespace: route.namespace, labelSelector, fieldSelector });
      sendJson(
        res,
        200,
        tableOf(list.items, list.resourceVersion) ?? {
          kind: `${t.kind}List`,
          apiVersion: apiVersionOf(t),
          metadata: { resourceVersion: list.resourceVersion },
          items: list.items,
        },
      );
      return;
    }
    case 'POST': {
      if (route.name !== undefined || (t.namespaced && route.namespace === undefined)) throw ApiError.methodNotAllowed();
      const obj = bodyObject(route, await readObject(req, ctx));
      sendJson(
        res,
        201,
        store.create(obj, { dryRun: dryRun(), ...fieldValidationOf(url, res), ...fieldOwnership(t, req, url, undefined) }),
      );
      return;
    }
    case 'PUT': {
      if (route.name === undefined) throw ApiError.methodNotAllowed();
      const obj = bodyObject(route, await readObject(req, ctx));
      const base = { dryRun: dryRun(), ...fieldValidationOf(url, res), ...fieldOwnership(t, req, url, route.subresource) };
      const opts = route.subresource === undefined ? base : { ...base, subresource: route.subresource };
      sendJson(res, 200, store.update(obj, opts));
      return;
    }
    case 'PATCH': {
      if (route.name === undefined) throw ApiError.methodNotAllowed();
      const type = mediaType(req);
      if (type === 'application/apply-patch+yaml') return serveApply(ctx, route, req, res, url, dryRun());
      if (param(url, 'force') !== undefined) {
        throw ApiError.invalid(PATCH_OPTIONS, '', [
          { field: 'force', message: 'Forbidden: may not be specified for non-apply patch', reason: 'FieldValueForbidden' },
        ]);
      }
      if (!PATCH_TYPES.includes(type)) {
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
        );
      }
      const patch = parseBody(await readBody(req, ctx.maxBodyBytes), type, [type]);
      const base = {
        patchType: 'merge' as const,
        dryRun: dryRun(),
        ...fieldValidationOf(url, res),
        ...fieldOwnership(t, req, url, route.subresource),
      };
      /** Writes a patched copy of `current`; conditional on the resourceVersion it carries (the current one unless the patch set it). */
      const writePatched = (current: KubeObject, patched: unknown): void => {
        if (!isRecord(patched) || !isRecord(patched['metadata'])) throw ApiError.badRequest('the patch removes the object or its metadata');
        const meta = patched['metadata'];
        const immutable = (['name', 'namespace'] as const)
          .filter((f) => meta[f] !== current.metadata[f])
          .map((f) => ({ field: `metadata.${f}`, message: 'Invalid value: field is immutable' }));
        if (immutable.length > 0) throw ApiError.invalid(t, route.name ?? '', immutable);
        const updated = { ...patched, metadata: { ...meta, resourceVersion: meta['resourceVersion'] ?? current.metadata.resourceVersion } };
        const { patchType: _merge, ...writeOpts } = base;
        const opts = route.subresource === 'status' ? { ...writeOpts, subresource: 'status' as const } : writeOpts;
        sendJson(res, 200, store.update(updated as KubeObject, opts));
      };
      if (type === 'application/json-patch+json') {
        const current = store.get(t, route.namespace, route.name);
        writePatched(current, applyJsonPatch(current, patch));
        return;
      }
      if (!isRecord(patch)) throw ApiError.badRequest('the patch must be a JSON object');
      if (type === 'application/strategic-merge-patch+json' && !plainMergeCompatible(patch)) {
        // Kubernetes' own kinds get the real thing; the others (CRDs in a real cluster, where kube-apiserver refuses
        // strategic merge patches) only the map-only form, which is a plain merge patch.
        if (!KUBERNETES_GROUPS.has(t.group)) {
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            `strategic merge patches with $ directives or lists are not served for ${t.kind}; send application/merge-patch+json instead`,
          );
        }
        const current = store.get(t, route.namespace, route.name);
        const merged = applyStrategicMergePatch(current, patch);
        // As before: a strategic merge patch is applied to the current version whatever resourceVersion it names.
        writePatched(
          current,
          isRecord(merged) ? { ...merged, metadata: { ...asRecord(merged['metadata']), resourceVersion: undefined } } : merged,
        );
        return;
      }
      const out = store.patch(
        t,
        route.namespace,
        route.name,
        patch,
        route.subresource === undefined ? base : { ...base, subresource: route.subresource },
      );
      sendJson(res, 200, out);
      return;
    }
    case 'DELETE': {
      if (route.name === undefined) throw ApiError.methodNotAllowed();
      const raw = await readBody(req, ctx.maxBodyBytes);
      const body = raw.length === 0 ? undefined : parseBody(raw, mediaType(req), OBJECT_BODY_TYPES);
      // 200 with the object whether it went at once or was only marked (graceful, finalizers), like the real server.
      sendJson(res, 200, store.delete(t, route.namespace, route.name, deleteOptions(url, body)));
      return;
    }
    default:
      throw ApiError.methodNotAllowed();
  }
}
