import { isRecord } from '@ambit/core';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../kube/dns-names.ts';
import type { FieldError, KubeObject, ObjectMeta, ResourceType } from '../kube/types.ts';
import { crdSchemaProblems, typesFromCrd } from './resource-types.ts';

/**
 * The per-kind rules the real API server's registry strategies apply on create, kept to what local clusters rely on:
 * name validation, a few defaults, CRD sanity. Kind-specific admission (clusterIP allocation, pod validation) is the
 * admission plugins' job, not this file's.
 */

// Messages are apimachinery's (validation.IsDNS1123Subdomain / IsDNS1123Label), so tools that grep them keep working.
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/** Namespaces the real API server refuses to delete. */
export const PROTECTED_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public']);

/** RFC 3339 with whole seconds, the form metav1.Time serialises to. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isKind(type: ResourceType, group: string, kind: string): boolean {
  return type.group === group && type.kind === kind;
}

/**
 * Namespace names are DNS-1123 labels (they become DNS labels of service names); RBAC names are any path segment
 * (`system:discovery`; rbac ValidateRBACName = path.IsValidPathSegmentName); everything else a subdomain.
 */
export function validateName(type: ResourceType, name: string): FieldError[] {
  if (type.group === 'rbac.authorization.k8s.io') {
    if (name === '')
      return [{ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' }];
    const why =
      name === '.' || name === '..'
        ? `may not be '${name}'`
        : name.includes('/')
          ? "may not contain '/'"
          : name.includes('%')
            ? "may not contain '%'"
            : undefined;
    return why === undefined ? [] : [{ field: 'metadata.name', message: `Invalid value: "${name}": ${why}` }];
  }
  const label = isKind(type, '', 'Namespace');
  const max = label ? 63 : 253;
  const causes: FieldError[] = [];
  if (name.length > max)
    causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": must be no more than ${max} characters` });
  if (!(label ? DNS1123_LABEL : DNS1123_SUBDOMAIN).test(name)) {
    causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": ${label ? LABEL_MSG : SUBDOMAIN_MSG}` });
  }
  return causes;
}

function validateStringMap(obj: KubeObject, field: 'labels' | 'annotations'): FieldError[] {
  const m: unknown = obj.metadata[field];
  if (m === undefined) return [];
  if (!isRecord(m)) return [{ field: `metadata.${field}`, message: 'Invalid value: must be a map of strings' }];
  return Object.entries(m)
    .filter(([, v]) => typeof v !== 'string')
    .map(([k]) => ({ field: `metadata.${field}[${k}]`, message: 'Invalid value: must be a string' }));
}

/** Generic metadata checks plus the CRD rules discovery depends on. */
export function validateObject(type: ResourceType, obj: KubeObject): FieldError[] {
  const causes = [
    ...validateName(type, obj.metadata.name ?? ''),
    ...validateStringMap(obj, 'labels'),
    ...validateStringMap(obj, 'annotations'),
  ];
  const finalizers: unknown = obj.metadata.finalizers;
  if (finalizers !== undefined && (!Array.isArray(finalizers) || finalizers.some((f) => typeof f !== 'string'))) {
    causes.push({ field: 'metadata.finalizers', message: 'Invalid value: must be a list of strings' });
  }
  if (isKind(type, 'apiextensions.k8s.io', 'CustomResourceDefinition')) causes.push(...validateCrd(obj));
  return causes;
}

function validateCrd(crd: KubeObject): FieldError[] {
  const spec = isRecord(crd['spec']) ? crd['spec'] : {};
  const names = isRecord(spec['names']) ? spec['names'] : {};
  const causes: FieldError[] = [];
  if (typeof spec['group'] !== 'string' || spec['group'] === '') causes.push({ field: 'spec.group', message: 'Required value' });
  if (typeof names['plural'] !== 'string' || names['plural'] === '') causes.push({ field: 'spec.names.plural', message: 'Required value' });
  if (typeof names['kind'] !== 'string' || names['kind'] === '') causes.push({ field: 'spec.names.kind', message: 'Required value' });
  if (spec['scope'] !== 'Namespaced' && spec['scope'] !== 'Cluster') {
    causes.push({
      field: 'spec.scope',
      message: `Unsupported value: ${JSON.stringify(spec['scope'] ?? '')}: supported values: "Cluster", "Namespaced"`,
    });
  }
  if (causes.length > 0) return causes;
  const expected = `${String(names['plural'])}.${String(spec['group'])}`;
  if (crd.metadata.name !== expected) {
    causes.push({
      field: 'metadata.name',
      message: `Invalid value: "${crd.metadata.name ?? ''}": must be spec.names.plural+"."+spec.group`,
    });
  }
  if (typesFromCrd(crd).length === 0)
    causes.push({ field: 'spec.versions', message: 'Invalid value: must have at least one served version' });
  causes.push(...crdSchemaProblems(crd));
  return causes;
}

/** Defaults the real registry strategies set on create and that clients (kubectl columns, informers) read. */
export function applyCreateDefaults(type: ResourceType, obj: KubeObject): void {
  if (isKind(type, '', 'Namespace')) {
    obj['status'] = { ...(isRecord(obj['status']) ? obj['status'] : {}), phase: 'Active' };
  } else if (isKind(type, '', 'Pod')) {
    const status = isRecord(obj['status']) ? obj['status'] : {};
    if (status['phase'] === undefined) obj['status'] = { ...status, phase: 'Pending' };
  } else if (isKind(type, 'apps', 'DaemonSet')) {
    applyUpdateDefaults(type, obj);
  } else if (isKind(type, 'apiextensions.k8s.io', 'CustomResourceDefinition')) {
    // Nothing here negotiates names, so a served CRD is accepted and established at once (`kubectl wait
    // --for=condition=established` then returns immediately).
    const spec = isRecord(obj['spec']) ? obj['spec'] : {};
    const now = obj.metadata.creationTimestamp ?? '';
    const condition = (t: string, reason: string): Record<string, unknown> => ({
      type: t,
      status: 'True',
      lastTransitionTime: now,
      reason,
      message: '',
    });
    obj['status'] = {
      acceptedNames: spec['names'] ?? {},
      storedVersions: typesFromCrd(obj).map((t) => t.version),
      conditions: [condition('NamesAccepted', 'NoConflicts'), condition('Established', 'InitialNamesAccepted')],
    };
  }
}

/**
 * Defaults kube-apiserver applies to every write of a kind (it defaults each decoded object), so a PUT or patch that
 * leaves them out does not drop them: apps/v1 `SetDefaults_DaemonSet` (RollingUpdate with maxUnavailable 1 and
 * maxSurge 0, revisionHistoryLimit 10), which `kubectl rollout status ds` depends on.
 */
export function applyUpdateDefaults(type: ResourceType, obj: KubeObject): void {
  if (!isKind(type, 'apps', 'DaemonSet') || !isRecord(obj['spec'])) return;
  const spec = obj['spec'];
  const strategy = isRecord(spec['updateStrategy']) ? { ...spec['updateStrategy'] } : {};
  strategy['type'] ??= 'RollingUpdate';
  if (strategy['type'] === 'RollingUpdate') {
    const rolling = isRecord(strategy['rollingUpdate']) ? { ...strategy['rollingUpdate'] } : {};
    rolling['maxUnavailable'] ??= 1;
    rolling['maxSurge'] ??= 0;
    strategy['rollingUpdate'] = rolling;
  }
  spec['updateStrategy'] = strategy;
  spec['revisionHistoryLimit'] ??= 10;
}

/** The grace period a pod gets when a delete names none: spec.terminationGracePeriodSeconds, default 30. */
export function podGraceSeconds(pod: KubeObject): number {
  const spec = isRecord(pod['spec']) ? pod['spec'] : {};
  const g = spec['terminationGracePeriodSeconds'];
  return typeof g === 'number' && Number.isFinite(g) && g >= 0 ? g : 30;
}

/** A pod bound to a node must be stopped by that node before it goes away (graceful deletion). */
export function isScheduledPod(type: ResourceType, obj: KubeObject): boolean {
  if (!isKind(type, '', 'Pod')) return false;
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  return typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '';
}

/** The fields whose change bumps metadata.generation: everything but metadata and status. */
export function specOf(obj: KubeObject): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...obj };
  delete rest['metadata'];
  delete rest['status'];
  delete rest['apiVersion'];
  delete rest['kind'];
  return rest;
}

/** Metadata only the server sets: an update keeps the stored values whatever the client sent. */
export function carryServerMeta(next: ObjectMeta, cur: ObjectMeta): void {
  const n: Record<string, unknown> = next;
  const c: Readonly<Record<string, unknown>> = cur;
  for (const f of ['namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
    if (c[f] === undefined) delete n[f];
    else n[f] = c[f];
  }
}
