import type { ResourceType } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import type { ResourceTypeRegistry } from '../store/resource-types.ts';
import { hasScale } from './scale.ts';

export type Subresource = 'status' | 'scale' | 'log';

/** Whether a resource has a subresource (status when its type declares it; scale, pods/log as kube-apiserver). */
export function servesSubresource(type: ResourceType, sub: string): sub is Subresource {
  if (sub === 'status') return type.hasStatus;
  if (sub === 'scale') return hasScale(type);
  return sub === 'log' && type.group === '' && type.plural === 'pods';
}

/** A request path under `/api/v1` or `/apis/<group>/<version>` resolved to what it addresses. */
export interface ResourceRoute {
  readonly type: ResourceType;
  /** Undefined for cluster-scoped types and for all-namespaces list/watch. */
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: Subresource | undefined;
  /** Reached through the legacy `/watch/` prefix. */
  readonly watchPath: boolean;
}

// Subresources the Namespace kind has in the core group; `namespaces/<ns>/<x>` with any other x addresses a namespaced
// resource (no core resource is called `status` or `finalize`).
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * Resolves the segments after the group/version prefix. Anything not served (unknown resource, wrong scope, a
 * subresource other than `status`, `scale` and `log` such as `exec`, `portforward`) is 404 NotFound, as the real server answers.
 */
export function resolveResourcePath(
  registry: ResourceTypeRegistry,
  group: string,
  version: string,
  rawSegments: readonly string[],
): ResourceRoute {
  let segments = rawSegments.filter((s) => s !== '').map((s) => decodeURIComponent(s));
  let watchPath = false;
  if (segments[0] === 'watch') {
    watchPath = true;
    segments = segments.slice(1);
  }
  let namespace: string | undefined;
  let rest = segments;
  const namespacedPath =
    segments[0] === 'namespaces' &&
    segments.length >= 3 &&
    !(group === '' && segments.length === 3 && NAMESPACE_SUBRESOURCES.has(segments[2] ?? ''));
  if (namespacedPath) {
    namespace = segments[1];
    rest = segments.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (plural === undefined || extra.length > 0) throw ApiError.noResource();
  const type = registry.byResource(group, version, plural);
  if (type === undefined) throw ApiError.noResource();
  if (namespace !== undefined && !type.namespaced) throw ApiError.noResource();
  if (name !== undefined && type.namespaced && namespace === undefined) throw ApiError.noResource();
  if (subresource === undefined) return { type, namespace, name, subresource: undefined, watchPath };
  if (!servesSubresource(type, subresource)) throw ApiError.noResource();
  return { type, namespace, name, subresource, watchPath };
}
