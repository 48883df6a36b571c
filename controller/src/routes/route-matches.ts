import type { FieldReader } from '@ambit/core';
import type { PathMatch, RouteMatch, ValueMatch } from '@ambit/core/routes';

/**
 * HTTPRoute and GRPCRoute matches → the route model's RouteMatch (Gateway API v1, `apis/v1/httproute_types.go` and
 * `grpcroute_types.go`), with the CRD's defaults applied here because a local API server does not apply them: a match
 * without a path is PathPrefix `/`, and a rule without matches has one such match.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
/** HTTPHeaderName (RFC 7230 token); Gateway API uses it for query parameter names too. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** GRPCMethodMatch names for type Exact (the CRD's patterns). */
const GRPC_SERVICE = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
/** An RFC 3986 path as the waypoint accepts one: no whitespace, controls, '?' or '#'. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const PATH = /^[^\s?#\0-\x1f\x7f]*$/;

/**
 * The header match every GRPCRoute match carries, so a gRPC rule never captures plain HTTP on the same parent. The
 * waypoint matches regular expressions against the whole value (as Envoy does), so the `+proto` / `;charset` forms
 * are spelled out.
 */
export const GRPC_CONTENT_TYPE_MATCH: ValueMatch = { type: 'RegularExpression', name: 'content-type', value: 'application/grpc([+;].*)?' };

export const CATCH_ALL_PATH: PathMatch = { type: 'PathPrefix', value: '/' };

export function parseHttpMatches(r: FieldReader, value: unknown, field: string): RouteMatch[] {
  const list = r.optArray(value, field);
  if (list.length === 0) return [{ path: CATCH_ALL_PATH, headers: [], queryParams: [] }];
  return list.map((m, i) => parseHttpMatch(r, m, `${field}[${i}]`));
}

function parseHttpMatch(r: FieldReader, value: unknown, field: string): RouteMatch {
  const m = r.record(value, field);
  const path = parsePath(r, r.optRecord(m['path'], `${field}.path`), `${field}.path`);
  const headers = parseValueMatches(r, m['headers'], `${field}.headers`, true);
  const queryParams = parseValueMatches(r, m['queryParams'], `${field}.queryParams`, false);
  const method = r.optOneOf(m['method'], `${field}.method`, METHODS);
  return method === undefined ? { path, headers, queryParams } : { path, headers, queryParams, method };
}

function parsePath(r: FieldReader, p: Record<string, unknown> | undefined, field: string): PathMatch {
  if (p === undefined) return CATCH_ALL_PATH;
  const type = r.optOneOf(p['type'], `${field}.type`, ['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
  const value = r.optString(p['value'], `${field}.value`) ?? '/';
  if (type === 'RegularExpression') {
    checkRegex(r, value, `${field}.value`);
    return { type, value };
  }
  // The CRD's CEL rules for Exact and PathPrefix values: an absolute, normalized path without a query or fragment.
  if (!value.startsWith('/') || !PATH.test(value)) {
    r.fail(`${field}.value`, `must be an absolute path starting with '/' (no spaces, '?' or '#'), got ${JSON.stringify(value)}`);
  }
  if (/\/\/|\/\.\.?\/|\/\.\.?$|#|%2f/i.test(value)) {
    r.fail(`${field}.value`, `must not contain '//', '/./', '/../', '#' or '%2f', nor end with '/.' or '/..'`);
  }
  return { type, value };
}

/**
 * Header (`caseInsensitive`, names lower-cased) or query parameter matches. The spec says only the first entry of a
 * name counts (`HTTPRouteMatch.headers`: "Subsequent entries with an equivalent header name MUST be ignored").
 */
function parseValueMatches(r: FieldReader, value: unknown, field: string, caseInsensitive: boolean): ValueMatch[] {
  const out: ValueMatch[] = [];
  const seen = new Set<string>();
  r.optArray(value, field).forEach((v, i) => {
    const f = `${field}[${i}]`;
    const o = r.record(v, f);
    const type = r.optOneOf(o['type'], `${f}.type`, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
    const written = r.name(o['name'], `${f}.name`);
    if (!TOKEN.test(written)) r.fail(`${f}.name`, `${JSON.stringify(written)} is not a valid header or parameter name`);
    const name = caseInsensitive ? written.toLowerCase() : written;
    const matchValue = r.string(o['value'], `${f}.value`);
    if (type === 'RegularExpression') checkRegex(r, matchValue, `${f}.value`);
    if (seen.has(name)) return;
    seen.add(name);
    out.push({ type, name, value: matchValue });
  });
  return out;
}

export function parseGrpcMatches(r: FieldReader, value: unknown, field: string): RouteMatch[] {
  const list = r.optArray(value, field);
  // No matches: every gRPC request to the parent (and, through the content-type match, only gRPC requests).
  if (list.length === 0) return [{ path: CATCH_ALL_PATH, headers: [GRPC_CONTENT_TYPE_MATCH], queryParams: [] }];
  return list.map((m, i) => {
    const f = `${field}[${i}]`;
    const o = r.record(m, f);
    const method = r.optRecord(o['method'], `${f}.method`);
    const path = method === undefined ? CATCH_ALL_PATH : grpcMethodPath(r, method, `${f}.method`);
    const headers = parseValueMatches(r, o['headers'], `${f}.headers`, true);
    return { path, headers: [...headers, GRPC_CONTENT_TYPE_MATCH], queryParams: [] };
  });
}

/**
 * GRPCMethodMatch → a path match on `/<service>/<method>` (gRPC's request path), as Istio converts it
 * (is:`pilot/pkg/config/kube/gateway/conversion.go` createGRPCURIMatch): both names Exact → Exact path; the service
 * only → PathPrefix `/<service>/`; otherwise a regular expression (matched against the whole path), with the user's
 * expressions grouped because they are embedded in a larger one.
 */
function grpcMethodPath(r: FieldReader, m: Record<string, unknown>, field: string): PathMatch {
  const type = r.optOneOf(m['type'], `${field}.type`, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
  const service = nonEmpty(r.optString(m['service'], `${field}.service`));
  const method = nonEmpty(r.optString(m['method'], `${field}.method`));
  if (service === undefined && method === undefined) return r.fail(field, 'must set service, method or both');
  if (type === 'Exact') {
    if (service !== undefined && !GRPC_SERVICE.test(service))
      r.fail(`${field}.service`, `${JSON.stringify(service)} is not a gRPC service name`);
    if (method !== undefined && !GRPC_METHOD.test(method)) r.fail(`${field}.method`, `${JSON.stringify(method)} is not a gRPC method name`);
    if (service !== undefined && method !== undefined) return { type: 'Exact', value: `/${service}/${method}` };
    if (service !== undefined) return { type: 'PathPrefix', value: `/${service}/` };
    return { type: 'RegularExpression', value: `/[^/]+/${escapeRegex(method ?? '')}` };
  }
  if (service !== undefined) checkRegex(r, service, `${field}.service`);
  if (method !== undefined) checkRegex(r, method, `${field}.method`);
  const s = service === undefined ? '[^/]+' : `(?:${service})`;
  const mm = method === undefined ? '[^/]+' : `(?:${method})`;
  return { type: 'RegularExpression', value: `/${s}/${mm}` };
}

/**
 * The waypoint runs JavaScript regular expressions against the whole value (`^(?:…)$`, core's compileFullMatch); one
 * that does not compile that way is the user's error, named here rather than NACKed by every waypoint.
 */
export function checkRegex(r: FieldReader, value: string, field: string): void {
  try {
    new RegExp(`^(?:${value})$`);
  } catch (err) {
    r.fail(field, `invalid regular expression: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === '' ? undefined : s;
}
