import type { IncomingMessage, ServerResponse } from 'node:http';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject, ResourceType } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import { applyMergePatch } from '../store/merge-patch.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { mediaType, parseBody, readBody, sendJson } from './http-io.ts';

/**
 * The `scale` subresource of Deployments and ReplicaSets (autoscaling/v1 Scale), as kube-apiserver serves it:
 * `kubectl scale` and HorizontalPodAutoscalers read and write `spec.replicas` through it without the rest of the
 * object. A Scale carries the parent's name, namespace, uid and resourceVersion; `status.selector` is the parent's
 * selector as a label-selector string.
 */

/** Resources with a scale subresource (what kube-apiserver serves among the kinds this API has). */
export function hasScale(t: Pick<ResourceType, 'group' | 'plural'>): boolean {
  return t.group === 'apps' && (t.plural === 'deployments' || t.plural === 'replicasets');
}

/** A LabelSelector object (matchLabels, matchExpressions) as the selector string `?labelSelector=` takes. */
export function selectorString(selector: unknown): string {
  const s = asRecord(selector);
  const parts = Object.entries(asRecord(s['matchLabels'])).map(([k, v]) => `${k}=${String(v)}`);
  for (const e of Array.isArray(s['matchExpressions']) ? s['matchExpressions'] : []) {
    const r = asRecord(e);
    const values = Array.isArray(r['values']) ? r['values'].map(String).join(',') : '';
    const key = String(r['key']);
    if (r['operator'] === 'In') parts.push(`${key} in (${values})`);
    else if (r['operator'] === 'NotIn') parts.push(`${key} notin (${values})`);
    else if (r['operator'] === 'Exists') parts.push(key);
    else if (r['operator'] === 'DoesNotExist') parts.push(`!${key}`);
  }
  return parts.join(',');
}

export function scaleOf(obj: KubeObject): KubeObject {
  const spec = asRecord(obj['spec']);
  const status = asRecord(obj['status']);
  const { name, namespace, uid, resourceVersion, creationTimestamp } = obj.metadata;
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: typeof spec['replicas'] === 'number' ? spec['replicas'] : 1 },
    status: { replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0, selector: selectorString(spec['selector']) },
  } as KubeObject;
}

function replicasOf(t: ResourceType, name: string, scale: unknown): number {
  const replicas = asRecord(asRecord(scale)['spec'])['replicas'];
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw ApiError.invalid(t, name, [
      {
        field: 'spec.replicas',
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
      },
    ]);
  }
  return replicas;
}

/** GET, PUT (a Scale; a resourceVersion in it must be current) and PATCH (merge or strategic merge of a Scale). */
export async function handleScale(
  store: ObjectStore,
  t: ResourceType,
  namespace: string | undefined,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
  maxBodyBytes: number,
  dryRun: boolean,
): Promise<void> {
  const current = store.get(t, namespace, name);
  const method = req.method ?? 'GET';
  if (method === 'GET') return sendJson(res, 200, scaleOf(current));
  if (method !== 'PUT' && method !== 'PATCH') throw ApiError.methodNotAllowed();
  const type = mediaType(req);
  const accepted =
    method === 'PUT'
      ? ['application/json', 'application/yaml', '']
      : ['application/merge-patch+json', 'application/strategic-merge-patch+json'];
  if (!accepted.includes(type))
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.filter((a) => a !== '').join(', ')}`,
    );
  const body = parseBody(await readBody(req, maxBodyBytes), type, [type]);
  if (!isRecord(body)) throw ApiError.badRequest('the body must be a JSON object');
  const wanted = method === 'PUT' ? body : applyMergePatch(scaleOf(current), body);
  const rv = asRecord(asRecord(wanted)['metadata'])['resourceVersion'];
  if (method === 'PUT' && typeof rv === 'string' && rv !== '' && rv !== current.metadata.resourceVersion) {
    throw ApiError.conflict(t, name, 'the object has been modified; please apply your changes to the latest version and try again');
  }
  const replicas = replicasOf(t, name, wanted);
  const updated = store.patch(t, namespace, name, { spec: { replicas } }, { patchType: 'merge', dryRun });
  sendJson(res, 200, scaleOf(updated));
}
