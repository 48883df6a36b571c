import type { FieldReader } from '@ambit/core';
import type { HeaderModifier, HeaderValue, PathModifier, RouteFilter } from '@ambit/core/routes';

/**
 * Gateway API filters the waypoint applies (HTTPRouteFilter / GRPCRouteFilter). Anything else — RequestMirror,
 * CORS, ExternalAuth, a type from a newer release — makes the read fail with a message naming the type, and the
 * caller drops the rule (the spec's UnsupportedValue). An `ExtensionRef` on a rule is read as a reference, resolved
 * later against the objects it names (route-resolve.ts): only then is it known whether it resolves.
 */

export type FilterType = RouteFilter['type'];

/** An ExtensionRef filter as written (LocalObjectReference: the route's namespace). */
export interface ExtensionRefView {
  /** JSON path of the filter, for status and Invalid reasons: `spec.rules[0].filters[1]`. */
  readonly field: string;
  /** '' is the core group. */
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

/** A rule filter before resolution: a filter the waypoint applies as is, or a reference still to resolve. */
export type RuleFilter = RouteFilter | { readonly type: 'ExtensionRef'; readonly ref: ExtensionRefView };

/** A rule's filter: an ExtensionRef reference, or one of `allowed` (ExtensionRef is named among the supported types). */
export function parseRuleFilter(r: FieldReader, value: unknown, field: string, allowed: readonly FilterType[], where: string): RuleFilter {
  const o = r.record(value, field);
  if (o['type'] !== 'ExtensionRef') return parseFilter(r, value, field, allowed, where, ['ExtensionRef']);
  const e = r.record(o['extensionRef'], `${field}.extensionRef`);
  return {
    type: 'ExtensionRef',
    ref: {
      field,
      group: r.optString(e['group'], `${field}.extensionRef.group`) ?? '',
      kind: r.name(e['kind'], `${field}.extensionRef.kind`),
      name: r.name(e['name'], `${field}.extensionRef.name`),
    },
  };
}

/** HTTPRoute rule filters. */
export const HTTP_RULE_FILTERS: readonly FilterType[] = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestRedirect',
  'URLRewrite',
];
/** GRPCRoute rule filters, and backendRef filters of both kinds: the waypoint applies header modifiers only there. */
export const HEADER_FILTERS: readonly FilterType[] = ['RequestHeaderModifier', 'ResponseHeaderModifier'];

const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const REDIRECT_CODES = [301, 302, 303, 307, 308];
/** What a proxy may write into a header: no CR, LF or NUL (header injection). */
const FIELD_VALUE = /^[^\r\n\0]*$/;
/** RFC 1123 host name, as a redirect or rewrite writes it into Host or Location. */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const PATH = /^[^\s?#\0-\x1f\x7f]*$/;

export function parseFilter(
  r: FieldReader,
  value: unknown,
  field: string,
  allowed: readonly FilterType[],
  where: string,
  alsoSupported: readonly string[] = [],
): RouteFilter {
  const o = r.record(value, field);
  const type = r.name(o['type'], `${field}.type`);
  if (!(allowed as readonly string[]).includes(type)) {
    return r.fail(`${field}.type`, `filter ${type} is not supported on ${where} (supported: ${[...allowed, ...alsoSupported].join(', ')})`);
  }
  switch (type as FilterType) {
    case 'RequestHeaderModifier':
      return {
        type: 'RequestHeaderModifier',
        modifier: parseHeaderModifier(r, o['requestHeaderModifier'], `${field}.requestHeaderModifier`),
      };
    case 'ResponseHeaderModifier':
      return {
        type: 'ResponseHeaderModifier',
        modifier: parseHeaderModifier(r, o['responseHeaderModifier'], `${field}.responseHeaderModifier`),
      };
    case 'RequestRedirect':
      return parseRedirect(r, r.record(o['requestRedirect'], `${field}.requestRedirect`), `${field}.requestRedirect`);
    case 'URLRewrite':
      return parseRewrite(r, r.record(o['urlRewrite'], `${field}.urlRewrite`), `${field}.urlRewrite`);
    case 'Fault':
    case 'Invalid':
      // Ambit's resolved forms of an ExtensionRef, never written by users.
      return r.fail(`${field}.type`, `filter ${type} is not a Gateway API filter type`);
  }
}

function parseHeaderModifier(r: FieldReader, value: unknown, field: string): HeaderModifier {
  const o = r.record(value, field);
  return {
    set: headerValues(r, o['set'], `${field}.set`),
    add: headerValues(r, o['add'], `${field}.add`),
    remove: r.optStrings(o['remove'], `${field}.remove`).map((name, i) => headerName(r, name, `${field}.remove[${i}]`)),
  };
}

function headerValues(r: FieldReader, value: unknown, field: string): HeaderValue[] {
  return r.optArray(value, field).map((v, i) => {
    const f = `${field}[${i}]`;
    const o = r.record(v, f);
    const value = r.string(o['value'], `${f}.value`);
    if (!FIELD_VALUE.test(value)) r.fail(`${f}.value`, 'must not contain CR, LF or NUL');
    return { name: headerName(r, o['name'], `${f}.name`), value };
  });
}

function headerName(r: FieldReader, value: unknown, field: string): string {
  const name = r.name(value, field);
  if (!TOKEN.test(name)) r.fail(field, `${JSON.stringify(name)} is not a valid header name`);
  return name;
}

function parseRedirect(r: FieldReader, o: Record<string, unknown>, field: string): RouteFilter {
  const scheme = r.optOneOf(o['scheme'], `${field}.scheme`, ['http', 'https'] as const);
  const hostname = optHostname(r, o['hostname'], `${field}.hostname`);
  const path = parsePathModifier(r, r.optRecord(o['path'], `${field}.path`), `${field}.path`);
  const port = o['port'] === undefined || o['port'] === null ? undefined : r.port(o['port'], `${field}.port`);
  const statusCode = r.optInteger(o['statusCode'], `${field}.statusCode`, 100, 599) ?? 302;
  if (!REDIRECT_CODES.includes(statusCode)) r.fail(`${field}.statusCode`, `must be one of ${REDIRECT_CODES.join(', ')}, got ${statusCode}`);
  return {
    type: 'RequestRedirect',
    statusCode,
    ...(scheme === undefined ? {} : { scheme }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(path === undefined ? {} : { path }),
    ...(port === undefined ? {} : { port }),
  };
}

function parseRewrite(r: FieldReader, o: Record<string, unknown>, field: string): RouteFilter {
  const hostname = optHostname(r, o['hostname'], `${field}.hostname`);
  const path = parsePathModifier(r, r.optRecord(o['path'], `${field}.path`), `${field}.path`);
  return {
    type: 'URLRewrite',
    ...(hostname === undefined ? {} : { hostname }),
    ...(path === undefined ? {} : { path }),
  };
}

function parsePathModifier(r: FieldReader, o: Record<string, unknown> | undefined, field: string): PathModifier | undefined {
  if (o === undefined) return undefined;
  const type = r.oneOf(o['type'], `${field}.type`, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  // The CRD requires the field named after the type (and only it).
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const value = r.string(o[key], `${field}.${key}`);
  // An empty ReplacePrefixMatch has a meaning in the spec's table (`/foo/bar` → `/bar`); anything else is a path.
  if (!(value === '' && type === 'ReplacePrefixMatch') && (!value.startsWith('/') || !PATH.test(value))) {
    r.fail(`${field}.${key}`, `must be a path starting with '/' (no spaces, '?' or '#'), got ${JSON.stringify(value)}`);
  }
  return { type, value };
}

function optHostname(r: FieldReader, value: unknown, field: string): string | undefined {
  const hostname = r.optString(value, field);
  if (hostname === undefined || hostname === '') return undefined;
  if (!HOSTNAME.test(hostname)) r.fail(field, `${JSON.stringify(hostname)} is not a host name (RFC 1123)`);
  return hostname;
}
