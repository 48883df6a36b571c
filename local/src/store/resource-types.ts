import { isRecord } from '@ambit/core';
import type { FieldError, KubeObject, PrinterColumn, ResourceType } from '../kube/types.ts';
import { parseSchema, type SchemaNode } from './crd-schema.ts';

/** `group/version`, or just `version` for the core group: the apiVersion objects of this type carry. */
export function apiVersionOf(t: Pick<ResourceType, 'group' | 'version'>): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** Splits an apiVersion into group and version (`v1` → core group). */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i === -1 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** The key objects are stored under: versions of one group/resource share their objects (CRD conversion `None`). */
export function storageKeyOf(t: Pick<ResourceType, 'group' | 'plural'>): string {
  return `${t.group}/${t.plural}`;
}

/**
 * Guesses the plural the way kubectl and the YAML loader expect for kinds nobody declared (meta.UnsafeGuessKindToResource):
 * `Ingress` → `ingresses`, `Policy` → `policies`, `Gateway` → `gateways`.
 */
export function guessPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower === '') return lower;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

interface Spec {
  readonly plural: string;
  readonly kind: string;
  readonly short?: readonly string[];
  readonly cluster?: boolean;
  readonly status?: boolean;
}

function builtins(group: string, version: string, specs: readonly Spec[]): ResourceType[] {
  return specs.map((s) => ({
    group,
    version,
    kind: s.kind,
    plural: s.plural,
    singular: s.kind.toLowerCase(),
    namespaced: s.cluster !== true,
    hasStatus: s.status === true,
    ...(s.short === undefined ? {} : { shortNames: s.short }),
  }));
}

/** The types every local cluster serves from the start; CRDs and `registerKind` add more. */
export const BUILTIN_TYPES: readonly ResourceType[] = [
  ...builtins('', 'v1', [
    { plural: 'namespaces', kind: 'Namespace', short: ['ns'], cluster: true, status: true },
    { plural: 'pods', kind: 'Pod', short: ['po'], status: true },
    { plural: 'services', kind: 'Service', short: ['svc'], status: true },
    { plural: 'serviceaccounts', kind: 'ServiceAccount', short: ['sa'] },
    { plural: 'nodes', kind: 'Node', short: ['no'], cluster: true, status: true },
    { plural: 'configmaps', kind: 'ConfigMap', short: ['cm'] },
    { plural: 'secrets', kind: 'Secret' },
    { plural: 'endpoints', kind: 'Endpoints', short: ['ep'] },
    { plural: 'events', kind: 'Event', short: ['ev'] },
  ]),
  ...builtins('apps', 'v1', [
    { plural: 'deployments', kind: 'Deployment', short: ['deploy'], status: true },
    { plural: 'replicasets', kind: 'ReplicaSet', short: ['rs'], status: true },
    { plural: 'daemonsets', kind: 'DaemonSet', short: ['ds'], status: true },
    { plural: 'controllerrevisions', kind: 'ControllerRevision' },
  ]),
  ...builtins('discovery.k8s.io', 'v1', [{ plural: 'endpointslices', kind: 'EndpointSlice' }]),
  // Stored and served (deploy/ ships one for the controller); nothing evicts pods locally, so nothing reads it.
  ...builtins('policy', 'v1', [{ plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', short: ['pdb'], status: true }]),
  ...builtins('coordination.k8s.io', 'v1', [{ plural: 'leases', kind: 'Lease' }]),
  ...builtins('rbac.authorization.k8s.io', 'v1', [
    { plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', cluster: true },
    { plural: 'clusterroles', kind: 'ClusterRole', cluster: true },
    { plural: 'rolebindings', kind: 'RoleBinding' },
    { plural: 'roles', kind: 'Role' },
  ]),
  ...builtins('apiextensions.k8s.io', 'v1', [
    { plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', short: ['crd', 'crds'], cluster: true, status: true },
  ]),
  // Istio's CRDs all declare the status subresource (istiod writes conditions there).
  ...builtins('security.istio.io', 'v1', [
    { plural: 'authorizationpolicies', kind: 'AuthorizationPolicy', short: ['ap'], status: true },
    { plural: 'peerauthentications', kind: 'PeerAuthentication', short: ['pa'], status: true },
    { plural: 'requestauthentications', kind: 'RequestAuthentication', status: true },
  ]),
  ...builtins('gateway.networking.k8s.io', 'v1', [
    { plural: 'gateways', kind: 'Gateway', short: ['gtw'], status: true },
    { plural: 'httproutes', kind: 'HTTPRoute', status: true },
    { plural: 'grpcroutes', kind: 'GRPCRoute', status: true },
    { plural: 'gatewayclasses', kind: 'GatewayClass', short: ['gc'], cluster: true, status: true },
  ]),
  // ReferenceGrant is served as v1beta1 only (Gateway API standard channel); it has no status.
  ...builtins('gateway.networking.k8s.io', 'v1beta1', [{ plural: 'referencegrants', kind: 'ReferenceGrant', short: ['refgrant'] }]),
  ...builtins('networking.istio.io', 'v1', [
    { plural: 'serviceentries', kind: 'ServiceEntry', short: ['se'], status: true },
    { plural: 'destinationrules', kind: 'DestinationRule', short: ['dr'], status: true },
    { plural: 'virtualservices', kind: 'VirtualService', short: ['vs'], status: true },
  ]),
];

/** Gateway API's group: served built in, or (`withoutGatewayApi`) left to CRDs, as in a fresh kind or GKE cluster. */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/** The built-in types without Gateway API's: a cluster that serves those kinds once their CRDs are applied. */
export function withoutGatewayApi(types: readonly ResourceType[]): ResourceType[] {
  return types.filter((t) => t.group !== GATEWAY_API_GROUP);
}

/** Opaque saved state of a registry, for transaction rollback. */
export interface RegistrySnapshot {
  readonly types: readonly ResourceType[];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * The types a CustomResourceDefinition declares: one per served version. Returns [] for a CRD too malformed to serve
 * (validation of the CRD itself is the caller's job).
 */
export function typesFromCrd(crd: KubeObject): ResourceType[] {
  const spec = crd['spec'];
  if (!isRecord(spec) || typeof spec['group'] !== 'string' || !isRecord(spec['names'])) return [];
  const names = spec['names'];
  const plural = names['plural'];
  const kind = names['kind'];
  if (typeof plural !== 'string' || typeof kind !== 'string' || plural === '' || kind === '') return [];
  const singular = typeof names['singular'] === 'string' && names['singular'] !== '' ? names['singular'] : kind.toLowerCase();
  const shortNames = strings(names['shortNames']);
  const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
  const out: ResourceType[] = [];
  for (const v of versions) {
    if (!isRecord(v) || typeof v['name'] !== 'string' || v['served'] === false) continue;
    const subresources = isRecord(v['subresources']) ? v['subresources'] : {};
    const schema = versionSchema(v, `spec.versions[${out.length}]`, []);
    const printerColumns = Array.isArray(v['additionalPrinterColumns']) ? v['additionalPrinterColumns'].flatMap(printerColumn) : undefined;
    out.push({
      group: spec['group'],
      version: v['name'],
      kind,
      plural,
      singular,
      namespaced: spec['scope'] !== 'Cluster',
      hasStatus: subresources['status'] !== undefined,
      ...(shortNames.length === 0 ? {} : { shortNames }),
      ...(schema === undefined ? {} : { schema }),
      ...(printerColumns === undefined ? {} : { printerColumns }),
    });
  }
  return out;
}

function printerColumn(c: unknown): PrinterColumn[] {
  if (!isRecord(c) || typeof c['name'] !== 'string' || typeof c['type'] !== 'string' || typeof c['jsonPath'] !== 'string') return [];
  return [
    {
      name: c['name'],
      type: c['type'],
      jsonPath: c['jsonPath'],
      ...(typeof c['format'] === 'string' ? { format: c['format'] } : {}),
      ...(typeof c['description'] === 'string' ? { description: c['description'] } : {}),
      ...(typeof c['priority'] === 'number' ? { priority: c['priority'] } : {}),
    },
  ];
}

function versionSchema(version: Record<string, unknown>, path: string, problems: FieldError[]): SchemaNode | undefined {
  const raw = isRecord(version['schema']) ? version['schema']['openAPIV3Schema'] : undefined;
  return raw === undefined ? undefined : parseSchema(raw, `${path}.schema.openAPIV3Schema`, problems);
}

/** What makes a CRD's schemas unusable (a pattern that does not compile, a `$ref`), with the schema path of each. */
export function crdSchemaProblems(crd: KubeObject): FieldError[] {
  const spec = isRecord(crd['spec']) ? crd['spec'] : {};
  const problems: FieldError[] = [];
  const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
  versions.forEach((v, i) => isRecord(v) && versionSchema(v, `spec.versions[${i}]`, problems));
  return problems;
}

/**
 * The served resource types, in registration order (discovery lists them so). One registry belongs to one store:
 * creating a CRD there registers its types, deleting it unregisters them.
 */
export class ResourceTypeRegistry {
  private types: ResourceType[] = [];

  constructor(initial: readonly ResourceType[] = BUILTIN_TYPES) {
    for (const t of initial) this.register(t);
  }

  /** Adds or replaces (same group, version and plural) a type. */
  register(type: ResourceType): ResourceType {
    const i = this.types.findIndex((t) => t.group === type.group && t.version === type.version && t.plural === type.plural);
    if (i === -1) this.types.push(type);
    else this.types[i] = type;
    return type;
  }

  /** Removes every version of a group/resource. */
  unregister(group: string, plural: string): void {
    this.types = this.types.filter((t) => !(t.group === group && t.plural === plural));
  }

  /** Registers (or re-registers) the served versions of a CRD; versions it no longer serves disappear. */
  registerCrd(crd: KubeObject): ResourceType[] {
    const declared = typesFromCrd(crd);
    const first = declared[0];
    if (first === undefined) return [];
    this.unregister(first.group, first.plural);
    for (const t of declared) this.register(t);
    return declared;
  }

  /**
   * Registers a kind nobody declared (the YAML loader meets it in a manifest before any CRD), guessing its plural.
   * Returns the existing type when the kind is already known.
   */
  registerKind(apiVersion: string, kind: string, namespaced: boolean): ResourceType {
    const known = this.byKind(apiVersion, kind);
    if (known !== undefined) return known;
    const { group, version } = parseApiVersion(apiVersion);
    return this.register({ group, version, kind, plural: guessPlural(kind), singular: kind.toLowerCase(), namespaced, hasStatus: false });
  }

  all(): readonly ResourceType[] {
    return this.types;
  }

  byResource(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const { group, version } = parseApiVersion(apiVersion);
    return this.types.find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  /** Any served version of a group/resource (the first registered), e.g. to find the storage of a CRD's objects. */
  byGroupResource(group: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.plural === plural);
  }

  byShortName(shortName: string): ResourceType | undefined {
    const s = shortName.toLowerCase();
    return this.types.find((t) => t.shortNames?.includes(s) === true);
  }

  /**
   * Resolves what a user types (`po`, `pod`, `pods`, `Pod`, `deployments.apps`) the way kubectl does: plural,
   * singular, short name or kind, optionally qualified by group.
   */
  resolve(name: string): ResourceType | undefined {
    const dot = name.indexOf('.');
    const bare = (dot === -1 ? name : name.slice(0, dot)).toLowerCase();
    const group = dot === -1 ? undefined : name.slice(dot + 1);
    const candidates = group === undefined ? this.types : this.types.filter((t) => t.group === group);
    return (
      candidates.find((t) => t.plural === bare) ??
      candidates.find((t) => t.singular === bare) ??
      candidates.find((t) => t.shortNames?.includes(bare) === true) ??
      candidates.find((t) => t.kind.toLowerCase() === bare)
    );
  }

  /** Group names in registration order, core group ('') excluded. */
  groups(): string[] {
    const seen = new Set<string>();
    for (const t of this.types) if (t.group !== '') seen.add(t.group);
    return [...seen];
  }

  versionsOf(group: string): string[] {
    const seen = new Set<string>();
    for (const t of this.types) if (t.group === group) seen.add(t.version);
    return [...seen];
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.types.filter((t) => t.group === group && t.version === version);
  }

  snapshot(): RegistrySnapshot {
    return { types: [...this.types] };
  }

  restore(s: RegistrySnapshot): void {
    this.types = [...s.types];
  }
}
