import { describeObject, type FieldReader, kubeObjectReader } from '@ambit/core';
import { parseObjectMeta, type ObjectMeta } from './kube-objects.ts';

/**
 * Typed views of `security.istio.io` AuthorizationPolicy and PeerAuthentication (v1 and v1beta1 share a schema).
 * Values stay as the user wrote them; turning them into matches (and rejecting bad ports or CIDRs with a field path)
 * is the converters' job, because only they know which fields ztunnel enforces.
 */

/** `from[].source` fields ztunnel enforces. */
export const SOURCE_L4_FIELDS = [
  'principals',
  'notPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
] as const;
/**
 * `from[].source` fields ztunnel cannot enforce. trustDomains are not HTTP, but a Match has no trust-domain field and
 * folding them into principals would widen the match, so istiod reports them with the HTTP attributes; so do we.
 */
export const SOURCE_UNSUPPORTED_FIELDS = [
  'requestPrincipals',
  'notRequestPrincipals',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'trustDomains',
  'notTrustDomains',
] as const;
export const OPERATION_L4_FIELDS = ['ports', 'notPorts'] as const;
export const OPERATION_UNSUPPORTED_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

type SourceField = (typeof SOURCE_L4_FIELDS)[number] | (typeof SOURCE_UNSUPPORTED_FIELDS)[number];
type OperationField = (typeof OPERATION_L4_FIELDS)[number] | (typeof OPERATION_UNSUPPORTED_FIELDS)[number];

/** Only non-empty fields are present, so "field set" and "field has values" are the same test. */
export type SourceView = Readonly<Partial<Record<SourceField, readonly string[]>>>;
export type OperationView = Readonly<Partial<Record<OperationField, readonly string[]>>>;

export interface ConditionView {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

export interface PolicyRuleView {
  readonly from: readonly SourceView[];
  readonly to: readonly OperationView[];
  readonly when: readonly ConditionView[];
}

/** One `spec.targetRefs[]` entry (or `spec.targetRef`), as written; `group` '' for the core group. */
export interface PolicyTargetRefView {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  /** Absent: the policy's namespace. */
  readonly namespace?: string;
  /** `spec.targetRefs[i]` or `spec.targetRef`, for messages. */
  readonly field: string;
}

export interface AuthorizationPolicyView {
  readonly meta: ObjectMeta;
  /** `metadata.generation`, for a status's observedGeneration. */
  readonly generation?: number;
  /** `spec.selector.matchLabels`; undefined when the policy has no selector (namespace or mesh scope). */
  readonly selector?: Readonly<Record<string, string>>;
  /** `spec.targetRef`/`spec.targetRefs` present: the policy is for waypoints, not ztunnel. */
  readonly hasTargetRefs: boolean;
  /** `spec.targetRef` then `spec.targetRefs`; empty for selector, namespace and mesh policies. */
  readonly targetRefs: readonly PolicyTargetRefView[];
  /** As written: ALLOW (the default), DENY, AUDIT or CUSTOM. */
  readonly action: string;
  readonly rules: readonly PolicyRuleView[];
}

export type MtlsMode = 'UNSET' | 'STRICT' | 'PERMISSIVE' | 'DISABLE';
const MTLS_MODES: readonly MtlsMode[] = ['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE'];

export interface PortMtls {
  readonly port: number;
  readonly mode: MtlsMode;
}

export interface PeerAuthenticationView {
  readonly meta: ObjectMeta;
  /** `spec.selector.matchLabels` when non-empty; Istio treats an empty selector as none (namespace/mesh scope). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly mode: MtlsMode;
  /** Sorted by port, so conversions are deterministic. */
  readonly portLevelMtls: readonly PortMtls[];
}

export function parseAuthorizationPolicy(value: unknown): AuthorizationPolicyView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.optRecord(o['spec'], 'spec') ?? {};
  const selector = r.optRecord(spec['selector'], 'spec.selector');
  const single =
    spec['targetRef'] === undefined || spec['targetRef'] === null ? [] : [parseTargetRef(r, spec['targetRef'], 'spec.targetRef')];
  const targetRefs = [
    ...single,
    ...r.optArray(spec['targetRefs'], 'spec.targetRefs').map((t, i) => parseTargetRef(r, t, `spec.targetRefs[${i}]`)),
  ];
  const rules = r.optArray(spec['rules'], 'spec.rules').map((rule, i) => parseRule(r, rule, `spec.rules[${i}]`));
  const metadata = r.record(o['metadata'], 'metadata');
  const generation = r.optInteger(metadata['generation'], 'metadata.generation', 0, Number.MAX_SAFE_INTEGER);
  const view: AuthorizationPolicyView = {
    meta,
    ...(generation === undefined ? {} : { generation }),
    hasTargetRefs: targetRefs.length > 0,
    targetRefs,
    action: r.optString(spec['action'], 'spec.action') || 'ALLOW',
    rules,
  };
  return selector === undefined ? view : { ...view, selector: r.optStringMap(selector['matchLabels'], 'spec.selector.matchLabels') };
}

function parseTargetRef(r: FieldReader, value: unknown, field: string): PolicyTargetRefView {
  const t = r.record(value, field);
  const namespace = r.optString(t['namespace'], `${field}.namespace`);
  return {
    group: r.optString(t['group'], `${field}.group`) ?? '',
    kind: r.name(t['kind'], `${field}.kind`),
    name: r.name(t['name'], `${field}.name`),
    ...(namespace === undefined || namespace === '' ? {} : { namespace }),
    field,
  };
}

function parseRule(r: FieldReader, value: unknown, field: string): PolicyRuleView {
  const rule = r.optRecord(value, field) ?? {};
  return {
    from: r.optArray(rule['from'], `${field}.from`).map((f, i) => {
      const path = `${field}.from[${i}].source`;
      const source = r.optRecord(r.record(f, `${field}.from[${i}]`)['source'], path) ?? {};
      return pickLists(r, source, path, [...SOURCE_L4_FIELDS, ...SOURCE_UNSUPPORTED_FIELDS]);
    }),
    to: r.optArray(rule['to'], `${field}.to`).map((t, i) => {
      const path = `${field}.to[${i}].operation`;
      const operation = r.optRecord(r.record(t, `${field}.to[${i}]`)['operation'], path) ?? {};
      return pickLists(r, operation, path, [...OPERATION_L4_FIELDS, ...OPERATION_UNSUPPORTED_FIELDS]);
    }),
    when: r.optArray(rule['when'], `${field}.when`).map((w, i): ConditionView => {
      const path = `${field}.when[${i}]`;
      const c = r.record(w, path);
      return {
        key: r.name(c['key'], `${path}.key`),
        values: listOfText(r, c['values'], `${path}.values`),
        notValues: listOfText(r, c['notValues'], `${path}.notValues`),
      };
    }),
  };
}

function pickLists<K extends string>(
  r: FieldReader,
  from: Record<string, unknown>,
  path: string,
  keys: readonly K[],
): Partial<Record<K, readonly string[]>> {
  const out: Partial<Record<K, readonly string[]>> = {};
  for (const k of keys) {
    const list = listOfText(r, from[k], `${path}.${k}`);
    if (list.length > 0) out[k] = list;
  }
  return out;
}

/** Strings, and numbers written as strings: ports arrive as `"80"` per the CRD but hand-written JSON says `80`. */
function listOfText(r: FieldReader, value: unknown, field: string): readonly string[] {
  return r.optArray(value, field).map((v, i) => (typeof v === 'number' ? String(v) : r.string(v, `${field}[${i}]`)));
}

export function parsePeerAuthentication(value: unknown): PeerAuthenticationView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.optRecord(o['spec'], 'spec') ?? {};
  const selector = r.optStringMap(r.optRecord(spec['selector'], 'spec.selector')?.['matchLabels'], 'spec.selector.matchLabels');
  const portLevel = r.optRecord(spec['portLevelMtls'], 'spec.portLevelMtls') ?? {};
  const portLevelMtls = Object.entries(portLevel)
    .map(([key, v]): PortMtls => {
      const f = `spec.portLevelMtls[${key}]`;
      const port = /^\d+$/.test(key) ? Number(key) : NaN;
      if (!(port >= 1 && port <= 65535)) r.fail(f, 'key must be a port 1..65535');
      return { port, mode: parseMode(r, r.optRecord(v, f), f) };
    })
    .sort((a, b) => a.port - b.port);
  const view: PeerAuthenticationView = { meta, mode: parseMode(r, r.optRecord(spec['mtls'], 'spec.mtls'), 'spec.mtls'), portLevelMtls };
  return Object.keys(selector).length === 0 ? view : { ...view, selector };
}

function parseMode(r: FieldReader, mtls: Record<string, unknown> | undefined, field: string): MtlsMode {
  const mode = r.optString(mtls?.['mode'], `${field}.mode`) || 'UNSET';
  if (!(MTLS_MODES as readonly string[]).includes(mode)) r.fail(`${field}.mode`, `must be one of ${MTLS_MODES.join(', ')}`);
  return mode as MtlsMode;
}
