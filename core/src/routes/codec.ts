/**
 * The xDS body of a route set (ROUTE_SET_TYPE_URL): UTF-8 JSON of the RouteSet. Decoding is the edge where the
 * controller's bytes become the waypoint's domain objects (STYLE rule 4): every field is checked, regular expressions
 * are compiled, and anything the waypoint could not enforce exactly throws a FieldError (code `MALFORMED_RESOURCE`)
 * naming the resource and the field, which the xDS client turns into a NACK — the waypoint keeps its last good set.
 */
import type { FieldReader } from '../fields/field-reader.ts';
import { encodeJsonResource, readJsonResource } from '../fields/json-resource.ts';
import { errorMessage } from '../errors.ts';
import { compileFullMatch } from './match.ts';
import {
  routeSetKey,
  type FaultAbort,
  type HeaderModifier,
  type HeaderValue,
  type PathMatch,
  type PathModifier,
  type RetryPolicy,
  type RouteBackend,
  type RouteEntry,
  type RouteFilter,
  type RouteMatch,
  type RouteParent,
  type RouteRule,
  type RouteSet,
  type ValueMatch,
} from './types.ts';

/** The xDS body of a route set: UTF-8 JSON (see ROUTE_SET_TYPE_URL). */
export function encodeRouteSet(set: RouteSet): Uint8Array {
  return encodeJsonResource(set);
}

/**
 * The RouteSet in resource `name`'s body, checked field by field; throws FieldError `MALFORMED_RESOURCE` naming the
 * resource and field. The set's parent must be the one the resource name says (routeSetKey), so a set can never be
 * filed under another parent.
 */
export function decodeRouteSet(name: string, bytes: Uint8Array): RouteSet {
  const { c, body: r } = readJsonResource('RouteSet', name, bytes);
  const parent = readParent(c, r['parent']);
  const key = routeSetKey(parent);
  if (key !== name) c.fail('parent', `names ${JSON.stringify(key)}, not the resource's parent`);
  const rules = c.array(r['rules'], 'rules').map((x, i) => readRule(c, x, `rules[${i}]`));
  const entries = c.array(r['entries'], 'entries').map((x, i) => readEntry(c, x, `entries[${i}]`, rules.length));
  return { parent, rules, entries };
}

// ---------------------------------------------------------------------------------------------------------------

/** Gateway API caps: weights at 1,000,000; timeouts here at what a Node timer can hold. */
const MAX_WEIGHT = 1_000_000;
const MAX_TIMER_MS = 2_147_483_647;
const MAX_RETRIES = 100;
/** Gateway API HTTPMethod. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
/** 301 and 302 are core; 303, 307 and 308 extended (HTTPRequestRedirectFilter.statusCode). */
const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;
/** RFC 9110 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value a proxy may write: no CR, LF or NUL (header injection), per RFC 9110 field-value. */
const FIELD_VALUE = /^[^\r\n\0]*$/;
/** An RFC 3986 path: no whitespace, controls, '?' or '#'. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const PATH = /^[^\s?#\0-\x1f\x7f]*$/;
/** RFC 1123 host name, as a redirect or rewrite writes into Host/Location. */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

function readParent(c: FieldReader, value: unknown): RouteParent {
  const r = c.record(value, 'parent');
  const kind = c.oneOf(r['kind'], 'parent.kind', ['Service', 'Gateway'] as const);
  const namespace = c.name(r['namespace'], 'parent.namespace');
  if (kind === 'Gateway') return { kind, namespace, name: c.name(r['name'], 'parent.name') };
  const hostname = c.name(r['hostname'], 'parent.hostname');
  const port = r['port'] === undefined ? undefined : c.port(r['port'], 'parent.port');
  return port === undefined ? { kind, namespace, hostname } : { kind, namespace, hostname, port };
}

function readRule(c: FieldReader, value: unknown, field: string): RouteRule {
  const r = c.record(value, field);
  const rule: RouteRule = {
    route: c.name(r['route'], `${field}.route`),
    kind: c.oneOf(r['kind'], `${field}.kind`, ['HTTPRoute', 'GRPCRoute'] as const),
    ruleIndex: c.integer(r['ruleIndex'], `${field}.ruleIndex`, 0, Number.MAX_SAFE_INTEGER),
    filters: c.optArray(r['filters'], `${field}.filters`).map((f, i) => readFilter(c, f, `${field}.filters[${i}]`, false)),
    backends: c.optArray(r['backends'], `${field}.backends`).map((b, i) => readBackend(c, b, `${field}.backends[${i}]`)),
  };
  const requestTimeoutMs = c.optInteger(r['requestTimeoutMs'], `${field}.requestTimeoutMs`, 1, MAX_TIMER_MS);
  const backendRequestTimeoutMs = c.optInteger(r['backendRequestTimeoutMs'], `${field}.backendRequestTimeoutMs`, 1, MAX_TIMER_MS);
  const retry = r['retry'] === undefined || r['retry'] === null ? undefined : readRetry(c, r['retry'], `${field}.retry`);
  if (requestTimeoutMs !== undefined && backendRequestTimeoutMs !== undefined && backendRequestTimeoutMs > requestTimeoutMs) {
    // Gateway API: "backendRequest ... MUST be less than or equal to the value of the request timeout".
    c.fail(`${field}.backendRequestTimeoutMs`, `must not exceed requestTimeoutMs (${requestTimeoutMs})`);
  }
  return {
    ...rule,
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(backendRequestTimeoutMs === undefined ? {} : { backendRequestTimeoutMs }),
    ...(retry === undefined ? {} : { retry }),
  };
}

function readRetry(c: FieldReader, value: unknown, field: string): RetryPolicy {
  const r = c.record(value, field);
  const attempts = c.integer(r['attempts'], `${field}.attempts`, 0, MAX_RETRIES);
  // HTTPRouteRetryStatusCode: 400 to 599.
  const codes = c.optArray(r['codes'], `${field}.codes`).map((x, i) => c.integer(x, `${field}.codes[${i}]`, 400, 599));
  const backoffMs = c.optInteger(r['backoffMs'], `${field}.backoffMs`, 0, MAX_TIMER_MS);
  return backoffMs === undefined ? { attempts, codes } : { attempts, codes, backoffMs };
}

function readBackend(c: FieldReader, value: unknown, field: string): RouteBackend {
  const r = c.record(value, field);
  const weight = c.integer(r['weight'], `${field}.weight`, 0, MAX_WEIGHT);
  const filters = c.optArray(r['filters'], `${field}.filters`).map((f, i) => readFilter(c, f, `${field}.filters[${i}]`, true));
  const invalidReason = c.optString(r['invalidReason'], `${field}.invalidReason`);
  const s = c.optRecord(r['service'], `${field}.service`);
  if (s === undefined) {
    if (invalidReason === undefined) c.fail(field, 'needs a service or an invalidReason');
    return { weight, filters, ...(invalidReason === undefined ? {} : { invalidReason }) };
  }
  const service = {
    namespace: c.name(s['namespace'], `${field}.service.namespace`),
    hostname: c.name(s['hostname'], `${field}.service.hostname`),
    port: c.port(s['port'], `${field}.service.port`),
  };
  return { weight, filters, service, ...(invalidReason === undefined ? {} : { invalidReason }) };
}

function readFilter(c: FieldReader, value: unknown, field: string, onBackend: boolean): RouteFilter {
  const r = c.record(value, field);
  const kinds = onBackend
    ? (['RequestHeaderModifier', 'ResponseHeaderModifier'] as const)
    : (['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'Fault', 'Invalid'] as const);
  const type = c.oneOf(r['type'], `${field}.type`, kinds);
  switch (type) {
    case 'RequestHeaderModifier':
    case 'ResponseHeaderModifier':
      return { type, modifier: readHeaderModifier(c, r['modifier'], `${field}.modifier`) };
    case 'RequestRedirect': {
      const scheme = c.optOneOf(r['scheme'], `${field}.scheme`, ['http', 'https'] as const);
      const hostname = readOptHostname(c, r['hostname'], `${field}.hostname`);
      const path = r['path'] === undefined || r['path'] === null ? undefined : readPathModifier(c, r['path'], `${field}.path`);
      const port = r['port'] === undefined || r['port'] === null ? undefined : c.port(r['port'], `${field}.port`);
      const statusCode = r['statusCode'] === undefined ? 302 : c.integer(r['statusCode'], `${field}.statusCode`, 100, 599);
      if (!(REDIRECT_CODES as readonly number[]).includes(statusCode)) {
        c.fail(`${field}.statusCode`, `must be one of ${REDIRECT_CODES.join(', ')}, got number ${statusCode}`);
      }
      return {
        type,
        statusCode,
        ...(scheme === undefined ? {} : { scheme }),
        ...(hostname === undefined ? {} : { hostname }),
        ...(path === undefined ? {} : { path }),
        ...(port === undefined ? {} : { port }),
      };
    }
    case 'URLRewrite': {
      const hostname = readOptHostname(c, r['hostname'], `${field}.hostname`);
      const path = r['path'] === undefined || r['path'] === null ? undefined : readPathModifier(c, r['path'], `${field}.path`);
      return { type, ...(hostname === undefined ? {} : { hostname }), ...(path === undefined ? {} : { path }) };
    }
    case 'Fault':
      return readFault(c, r, field);
    case 'Invalid':
      return { type, reason: c.name(r['reason'], `${field}.reason`) };
  }
}

/** HTTPFault: percentages 0–100 with fractions (Istio's `percentage.value`); an abort has exactly one status. */
function readFault(c: FieldReader, r: Record<string, unknown>, field: string): RouteFilter {
  const fault = c.name(r['fault'], `${field}.fault`);
  const d = c.optRecord(r['delay'], `${field}.delay`);
  const a = c.optRecord(r['abort'], `${field}.abort`);
  if (d === undefined && a === undefined) c.fail(field, 'needs a delay or an abort');
  const delay =
    d === undefined
      ? undefined
      : {
          percent: c.number(d['percent'], `${field}.delay.percent`, 0, 100),
          fixedDelayMs: c.integer(d['fixedDelayMs'], `${field}.delay.fixedDelayMs`, 0, MAX_TIMER_MS),
        };
  let abort: FaultAbort | undefined;
  if (a !== undefined) {
    const percent = c.number(a['percent'], `${field}.abort.percent`, 0, 100);
    // 200–599 as Istio's HTTPFaultInjection.Abort; a gRPC abort carries a gRPC status code (0–16) instead.
    const httpStatus = c.optInteger(a['httpStatus'], `${field}.abort.httpStatus`, 200, 599);
    const grpcStatus = c.optInteger(a['grpcStatus'], `${field}.abort.grpcStatus`, 0, 16);
    if ((httpStatus === undefined) === (grpcStatus === undefined))
      c.fail(`${field}.abort`, 'needs exactly one of httpStatus and grpcStatus');
    abort = { percent, ...(httpStatus === undefined ? {} : { httpStatus }), ...(grpcStatus === undefined ? {} : { grpcStatus }) };
  }
  return { type: 'Fault', fault, ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }) };
}

function readHeaderModifier(c: FieldReader, value: unknown, field: string): HeaderModifier {
  const r = c.record(value, field);
  const pairs = (list: unknown, f: string): HeaderValue[] =>
    c.optArray(list, f).map((x, i) => {
      const h = c.record(x, `${f}[${i}]`);
      return { name: readHeaderName(c, h['name'], `${f}[${i}].name`), value: readHeaderValue(c, h['value'], `${f}[${i}].value`) };
    });
  return {
    set: pairs(r['set'], `${field}.set`),
    add: pairs(r['add'], `${field}.add`),
    remove: c.optStrings(r['remove'], `${field}.remove`).map((n, i) => readHeaderName(c, n, `${field}.remove[${i}]`)),
  };
}

function readPathModifier(c: FieldReader, value: unknown, field: string): PathModifier {
  const r = c.record(value, field);
  const type = c.oneOf(r['type'], `${field}.type`, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  const v = c.string(r['value'], `${field}.value`);
  // The spec's table gives an empty ReplacePrefixMatch a meaning ("/foo/bar" -> "/bar"); any other value is a path.
  if (v !== '' && (!v.startsWith('/') || !PATH.test(v)))
    c.fail(`${field}.value`, `must be a path starting with '/', got ${JSON.stringify(v)}`);
  return { type, value: v };
}

function readEntry(c: FieldReader, value: unknown, field: string, ruleCount: number): RouteEntry {
  const r = c.record(value, field);
  if (ruleCount === 0) c.fail(`${field}.rule`, 'refers to a rule, but the set has none');
  return { match: readMatch(c, r['match'], `${field}.match`), rule: c.integer(r['rule'], `${field}.rule`, 0, ruleCount - 1) };
}

function readMatch(c: FieldReader, value: unknown, field: string): RouteMatch {
  const r = c.record(value, field);
  const path = r['path'] === undefined || r['path'] === null ? undefined : readPathMatch(c, r['path'], `${field}.path`);
  const method = c.optOneOf(r['method'], `${field}.method`, METHODS);
  const headers = c.optArray(r['headers'], `${field}.headers`).map((x, i) => readValueMatch(c, x, `${field}.headers[${i}]`, true));
  const queryParams = c
    .optArray(r['queryParams'], `${field}.queryParams`)
    .map((x, i) => readValueMatch(c, x, `${field}.queryParams[${i}]`, false));
  return { headers, queryParams, ...(path === undefined ? {} : { path }), ...(method === undefined ? {} : { method }) };
}

function readPathMatch(c: FieldReader, value: unknown, field: string): PathMatch {
  const r = c.record(value, field);
  const type = c.oneOf(r['type'], `${field}.type`, ['Exact', 'PathPrefix', 'RegularExpression'] as const);
  const v = c.string(r['value'], `${field}.value`);
  if (type === 'RegularExpression') {
    checkRegex(c, v, `${field}.value`);
  } else if (!v.startsWith('/') || !PATH.test(v)) {
    c.fail(`${field}.value`, `must be a path starting with '/', got ${JSON.stringify(v)}`);
  }
  return { type, value: v };
}

function readValueMatch(c: FieldReader, value: unknown, field: string, header: boolean): ValueMatch {
  const r = c.record(value, field);
  const type = c.oneOf(r['type'], `${field}.type`, ['Exact', 'RegularExpression'] as const);
  // Header names compare case-insensitively: the model keeps them lower-case, whatever the controller sent.
  const name = header ? readHeaderName(c, r['name'], `${field}.name`).toLowerCase() : c.name(r['name'], `${field}.name`);
  const v = c.string(r['value'], `${field}.value`);
  if (type === 'RegularExpression') checkRegex(c, v, `${field}.value`);
  return { type, name, value: v };
}

function readHeaderName(c: FieldReader, value: unknown, field: string): string {
  const n = c.name(value, field);
  if (!TOKEN.test(n)) c.fail(field, `${JSON.stringify(n)} is not an HTTP header name`);
  return n;
}

function readHeaderValue(c: FieldReader, value: unknown, field: string): string {
  const v = c.string(value, field);
  if (!FIELD_VALUE.test(v)) c.fail(field, 'must not contain CR, LF or NUL');
  return v;
}

function readOptHostname(c: FieldReader, value: unknown, field: string): string | undefined {
  const h = c.optString(value, field);
  if (h !== undefined && (h.length > 253 || !HOSTNAME.test(h))) c.fail(field, `${JSON.stringify(h)} is not a host name`);
  return h;
}

function checkRegex(c: FieldReader, pattern: string, field: string): void {
  try {
    compileFullMatch(pattern);
  } catch (err) {
    c.fail(field, `is not a regular expression: ${errorMessage(err)}`);
  }
}
