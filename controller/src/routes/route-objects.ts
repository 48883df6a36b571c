import { asRecord, describeObject, type FieldReader, isRecord, KubeObjectError, kubeObjectReader } from '@ambit/core';
import type { RetryPolicy, RouteFilter, RouteMatch } from '@ambit/core/routes';
import { parseObjectMeta, type ObjectMeta } from '../model/kube-objects.ts';
import { parseDurationMs } from './duration.ts';
import { HEADER_FILTERS, HTTP_RULE_FILTERS, parseFilter, parseRuleFilter, type RuleFilter } from './route-filters.ts';
import { parseGrpcMatches, parseHttpMatches } from './route-matches.ts';

/**
 * Typed views of Gateway API `HTTPRoute` and `GRPCRoute` (gateway.networking.k8s.io/v1), read once here (STYLE rule 4).
 * Two levels of failure, because the spec wants a route's good rules served while its bad ones are reported:
 * - the envelope (metadata, parentRefs, the rules list itself) throws KubeObjectError: without it there is nothing to
 *   attach and no parent to write a status for;
 * - each rule is read on its own; a rule that does not read, or uses what the waypoint cannot do, becomes a
 *   RuleProblem and is dropped (status: PartiallyInvalid, or Accepted=False when no rule is left).
 */

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** Istio's controller name for mesh (waypoint and GAMMA) routes; ours in `status.parents[].controllerName`. */
export const MESH_CONTROLLER_NAME = 'istio.io/mesh-controller';

export const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export interface ParentRefView {
  /** Defaults applied: group `gateway.networking.k8s.io`, kind `Gateway`, the route's namespace. */
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
  /** The reference exactly as written: `status.parents[].parentRef` echoes it, so the user can tell entries apart. */
  readonly written: Readonly<Record<string, string | number>>;
}

export interface BackendRefView {
  /** JSON path, for status messages: `spec.rules[0].backendRefs[1]`. */
  readonly field: string;
  /** Defaults applied: group '' (core), kind Service, the route's namespace. */
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly port?: number;
  readonly weight: number;
  readonly filters: readonly RouteFilter[];
}

export interface RuleView {
  readonly index: number;
  /** Never empty (a rule without matches has the catch-all match). */
  readonly matches: readonly RouteMatch[];
  /** ExtensionRefs unresolved here: resolveRules turns them into Fault or Invalid filters. */
  readonly filters: readonly RuleFilter[];
  readonly backendRefs: readonly BackendRefView[];
  readonly requestTimeoutMs?: number;
  readonly backendRequestTimeoutMs?: number;
  readonly retry?: RetryPolicy;
}

/** A rule the waypoint will not apply. `reason` is a Gateway API route condition reason. */
export interface RuleProblem {
  readonly index: number;
  readonly reason: 'UnsupportedValue' | 'IncompatibleFilters';
  readonly message: string;
}

export interface RouteView {
  readonly kind: RouteKind;
  readonly meta: ObjectMeta;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly parentRefs: readonly ParentRefView[];
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleView[];
  readonly invalidRules: readonly RuleProblem[];
  /** `status.parents` entries of other controllers, verbatim: a status write keeps them (they are not ours to drop). */
  readonly otherParents: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** The object's status holds entries of ours (so an empty set of ours must still be written, to remove them). */
  readonly hasOurParents: boolean;
}

/** Istio's default when a `retry` stanza sets no attempts (conversion.go: "the default retry if none are set is 2"). */
const DEFAULT_RETRY_ATTEMPTS = 2;
/** The most retries a waypoint accepts (a retry storm guard; the route model's decoder holds the same bound). */
const MAX_RETRY_ATTEMPTS = 100;
/**
 * The longest timer Node can hold (2^31-1 ms, ~24.8 days). GEP-2257 allows up to 99999h; a longer timeout is clamped
 * to this, which no request can tell apart.
 */
const MAX_TIMER_MS = 2_147_483_647;

export function parseRoute(value: unknown): RouteView {
  const object = describeObject(value);
  const r = kubeObjectReader(object);
  const o = r.record(value, '.');
  const kind = r.oneOf(o['kind'], 'kind', ROUTE_KINDS);
  const meta = parseObjectMeta(r, o['metadata'], true);
  const m = asRecord(o['metadata']);
  const generation = r.optInteger(m['generation'], 'metadata.generation', 0, Number.MAX_SAFE_INTEGER);
  const resourceVersion = r.optString(m['resourceVersion'], 'metadata.resourceVersion');
  const spec = r.optRecord(o['spec'], 'spec') ?? {};
  const parentRefs = r
    .optArray(spec['parentRefs'], 'spec.parentRefs')
    .map((p, i) => parseParentRef(r, p, `spec.parentRefs[${i}]`, meta.namespace));
  const hostnames = r.optStrings(spec['hostnames'], 'spec.hostnames');
  // The CRD defaults an HTTPRoute's rules to one catch-all rule (that has no backends: 500, as the spec says).
  const rawRules = spec['rules'] === undefined && kind === 'HTTPRoute' ? [{}] : r.optArray(spec['rules'], 'spec.rules');

  const rules: RuleView[] = [];
  const invalidRules: RuleProblem[] = [];
  rawRules.forEach((rule, index) => {
    // A fresh throwing reader per rule: its first problem ends this rule only.
    try {
      const parsed = parseRule(kubeObjectReader(object), kind, rule, index, meta.namespace);
      if ('reason' in parsed) invalidRules.push(parsed);
      else rules.push(parsed);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      invalidRules.push({ index, reason: 'UnsupportedValue', message: `${err.field}: ${err.problem}` });
    }
  });

  const others = otherParents(o['status']);
  const hasOurParents = others.length < statusParents(o['status']).length;
  const view: RouteView = { kind, meta, parentRefs, hostnames, rules, invalidRules, otherParents: others, hasOurParents };
  return {
    ...view,
    ...(generation === undefined ? {} : { generation }),
    ...(resourceVersion === undefined ? {} : { resourceVersion }),
  };
}

function parseParentRef(r: FieldReader, value: unknown, field: string, routeNamespace: string): ParentRefView {
  const o = r.record(value, field);
  const written: Record<string, string | number> = {};
  for (const key of ['group', 'kind', 'namespace', 'name', 'sectionName'] as const) {
    const v = r.optString(o[key], `${field}.${key}`);
    if (v !== undefined) written[key] = v;
  }
  const name = r.name(o['name'], `${field}.name`);
  const port = o['port'] === undefined || o['port'] === null ? undefined : r.port(o['port'], `${field}.port`);
  if (port !== undefined) written['port'] = port;
  const sectionName = written['sectionName'];
  const view: ParentRefView = {
    group: typeof written['group'] === 'string' ? written['group'] : GATEWAY_GROUP,
    kind: typeof written['kind'] === 'string' && written['kind'] !== '' ? written['kind'] : 'Gateway',
    namespace: typeof written['namespace'] === 'string' && written['namespace'] !== '' ? written['namespace'] : routeNamespace,
    name,
    written,
  };
  return {
    ...view,
    ...(typeof sectionName === 'string' && sectionName !== '' ? { sectionName } : {}),
    ...(port === undefined ? {} : { port }),
  };
}

function parseRule(r: FieldReader, kind: RouteKind, value: unknown, index: number, namespace: string): RuleView | RuleProblem {
  const field = `spec.rules[${index}]`;
  const o = r.record(value, field);
  const http = kind === 'HTTPRoute';
  const matches = http ? parseHttpMatches(r, o['matches'], `${field}.matches`) : parseGrpcMatches(r, o['matches'], `${field}.matches`);
  const filters = r
    .optArray(o['filters'], `${field}.filters`)
    .map((f, i) => parseRuleFilter(r, f, `${field}.filters[${i}]`, http ? HTTP_RULE_FILTERS : HEADER_FILTERS, `a ${kind} rule`));
  const backendRefs = r
    .optArray(o['backendRefs'], `${field}.backendRefs`)
    .map((b, i) => parseBackendRef(r, b, `${field}.backendRefs[${i}]`, namespace));

  // The CRD's CEL rules, checked here because not every API server runs them.
  const problem = (reason: RuleProblem['reason'], message: string): RuleProblem => ({ index, reason, message });
  // ExtensionRef may appear any number of times in a rule (HTTPRouteFilter docs); the core filters at most once.
  const types = filters.map((f) => f.type).filter((t) => t !== 'ExtensionRef');
  const repeated = types.find((t, i) => types.indexOf(t) !== i);
  if (repeated !== undefined) return problem('UnsupportedValue', `${field}.filters: ${repeated} may appear at most once in a rule`);
  if (types.includes('RequestRedirect') && types.includes('URLRewrite')) {
    return problem('IncompatibleFilters', `${field}.filters: RequestRedirect and URLRewrite cannot be used together`);
  }
  if (types.includes('RequestRedirect') && backendRefs.length > 0) {
    return problem('IncompatibleFilters', `${field}: a RequestRedirect rule must not have backendRefs`);
  }
  const replacesPrefix = filters.some(
    (f) => (f.type === 'RequestRedirect' || f.type === 'URLRewrite') && f.path?.type === 'ReplacePrefixMatch',
  );
  if (replacesPrefix && matches.some((m) => m.path?.type !== 'PathPrefix')) {
    return problem('UnsupportedValue', `${field}.filters: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match`);
  }

  const rule: RuleView = { index, matches, filters, backendRefs };
  if (!http) return rule;
  return {
    ...rule,
    ...parseTimeouts(r, r.optRecord(o['timeouts'], `${field}.timeouts`), `${field}.timeouts`),
    ...parseRetry(r, o['retry'], `${field}.retry`),
  };
}

function parseBackendRef(r: FieldReader, value: unknown, field: string, routeNamespace: string): BackendRefView {
  const o = r.record(value, field);
  const port = o['port'] === undefined || o['port'] === null ? undefined : r.port(o['port'], `${field}.port`);
  const view: BackendRefView = {
    field,
    group: r.optString(o['group'], `${field}.group`) ?? '',
    kind: r.optString(o['kind'], `${field}.kind`) || 'Service',
    namespace: r.optString(o['namespace'], `${field}.namespace`) || routeNamespace,
    name: r.name(o['name'], `${field}.name`),
    weight: r.optInteger(o['weight'], `${field}.weight`, 0, 1_000_000) ?? 1,
    filters: r
      .optArray(o['filters'], `${field}.filters`)
      .map((f, i) => parseFilter(r, f, `${field}.filters[${i}]`, HEADER_FILTERS, 'a backendRef')),
  };
  return port === undefined ? view : { ...view, port };
}

/** HTTPRouteTimeouts (GEP-1742): `0s` disables a timeout; backendRequest may not exceed request. */
function parseTimeouts(
  r: FieldReader,
  o: Record<string, unknown> | undefined,
  field: string,
): { requestTimeoutMs?: number; backendRequestTimeoutMs?: number } {
  if (o === undefined) return {};
  const request = duration(r, o['request'], `${field}.request`);
  const backend = duration(r, o['backendRequest'], `${field}.backendRequest`);
  if (request !== undefined && request > 0 && backend !== undefined && backend > request) {
    r.fail(`${field}.backendRequest`, `must not be longer than timeouts.request (${backend} ms > ${request} ms)`);
  }
  return {
    ...(request === undefined || request === 0 ? {} : { requestTimeoutMs: request }),
    ...(backend === undefined || backend === 0 ? {} : { backendRequestTimeoutMs: backend }),
  };
}

/** HTTPRouteRetry (GEP-1731), with Istio's defaults: 2 attempts when unset, and no status code unless listed. */
function parseRetry(r: FieldReader, value: unknown, field: string): { retry?: RetryPolicy } {
  const o = r.optRecord(value, field);
  if (o === undefined) return {};
  const attempts = r.optInteger(o['attempts'], `${field}.attempts`, 0, MAX_RETRY_ATTEMPTS) ?? DEFAULT_RETRY_ATTEMPTS;
  const codes = r.optArray(o['codes'], `${field}.codes`).map((c, i) => r.integer(c, `${field}.codes[${i}]`, 400, 599));
  const backoffMs = duration(r, o['backoff'], `${field}.backoff`);
  const retry: RetryPolicy = { attempts, codes: [...new Set(codes)] };
  return { retry: backoffMs === undefined ? retry : { ...retry, backoffMs } };
}

function duration(r: FieldReader, value: unknown, field: string): number | undefined {
  const text = r.optString(value, field);
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined) return r.fail(field, `${JSON.stringify(text)} is not a Gateway API duration (e.g. 500ms, 10s, 1m30s; GEP-2257)`);
  return Math.min(ms, MAX_TIMER_MS);
}

/** Status is what controllers wrote, not the user: read leniently, never a reason to reject the route. */
function statusParents(status: unknown): Array<Record<string, unknown>> {
  const parents = asRecord(status)['parents'];
  return Array.isArray(parents) ? parents.filter(isRecord) : [];
}

function otherParents(status: unknown): Array<Readonly<Record<string, unknown>>> {
  return statusParents(status).filter((p) => p['controllerName'] !== MESH_CONTROLLER_NAME);
}
