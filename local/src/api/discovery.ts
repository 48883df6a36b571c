import type { ResourceType } from '../kube/types.ts';
import { hasScale } from './scale.ts';
import type { ResourceTypeRegistry } from '../store/resource-types.ts';
import { REVIEW_RESOURCES } from './auth-reviews.ts';

/**
 * The unaggregated discovery documents (/api, /apis, /api/v1, /apis/<g>/<v>) and /version. Served as plain
 * `application/json`: kubectl first asks for aggregated discovery and falls back to these when the response's
 * Content-Type does not say `as=APIGroupDiscoveryList`.
 */

const SERVER_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-ambit' };

/** Verbs every served resource supports; `deletecollection` is refused (405), so it is not advertised. */
const RESOURCE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

export function versionInfo(): Record<string, unknown> {
  return {
    ...SERVER_VERSION,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: 'n/a',
    compiler: 'n/a',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    apiVersion: 'v1',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** Groups whose only kinds are the create-only reviews (auth-reviews.ts), served without a stored type. */
const REVIEW_GROUPS = Object.keys(REVIEW_RESOURCES).map((gv) => gv.split('/'));

function versionsOf(registry: ResourceTypeRegistry, group: string): string[] {
  const versions = registry.versionsOf(group);
  for (const [g, v] of REVIEW_GROUPS) if (g === group && v !== undefined && !versions.includes(v)) versions.push(v);
  return versions;
}

function groupDoc(registry: ResourceTypeRegistry, group: string): Record<string, unknown> {
  const versions = versionsOf(registry, group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(registry: ResourceTypeRegistry): Record<string, unknown> {
  const groups = registry.groups();
  for (const [g] of REVIEW_GROUPS) if (g !== undefined && !groups.includes(g)) groups.push(g);
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => groupDoc(registry, g)) };
}

/** Undefined when the group is not served. */
export function apiGroup(registry: ResourceTypeRegistry, group: string): Record<string, unknown> | undefined {
  if (group === '' || versionsOf(registry, group).length === 0) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(registry, group) };
}

function resourceEntries(t: ResourceType): Record<string, unknown>[] {
  const main: Record<string, unknown> = {
    name: t.plural,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: RESOURCE_VERBS,
  };
  if (t.shortNames !== undefined && t.shortNames.length > 0) main['shortNames'] = t.shortNames;
  const sub = (name: string, kind: string, verbs: string[], gv?: { group: string; version: string }): Record<string, unknown> => ({
    name: `${t.plural}/${name}`,
    singularName: '',
    namespaced: t.namespaced,
    ...gv,
    kind,
    verbs,
  });
  return [
    main,
    ...(t.hasStatus ? [sub('status', t.kind, STATUS_VERBS)] : []),
    // kubectl's scale client finds the Scale's group/version here (scale.NewDiscoveryScaleKindResolver).
    ...(hasScale(t) ? [sub('scale', 'Scale', STATUS_VERBS, { group: 'autoscaling', version: 'v1' })] : []),
    ...(t.group === '' && t.plural === 'pods' ? [sub('log', 'Pod', ['get'])] : []),
    ...(t.group === '' && t.plural === 'serviceaccounts'
      ? [sub('token', 'TokenRequest', ['create'], { group: 'authentication.k8s.io', version: 'v1' })]
      : []),
  ];
}

/** Undefined when the group/version is not served. */
export function apiResourceList(registry: ResourceTypeRegistry, group: string, version: string): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  const reviews = (REVIEW_RESOURCES[`${group}/${version}`] ?? []).map((r) => ({
    name: r.name,
    singularName: r.kind.toLowerCase(),
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: ['create'],
  }));
  if (types.length === 0 && reviews.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: [...types.flatMap(resourceEntries), ...reviews],
  };
}
