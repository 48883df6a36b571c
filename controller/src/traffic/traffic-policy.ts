import type { FieldReader } from '@ambit/core';
import type { ConnectionPool, HashKey, LoadBalancer, OutlierDetection, SimpleLb, TrafficPolicy } from '@ambit/core/traffic';
import { parseIstioDurationMs } from './istio-duration.ts';

/**
 * A DestinationRule `trafficPolicy` (top level or a subset's) as the waypoint applies it, with Istio's semantics
 * (https://istio.io/latest/docs/reference/config/networking/destination-rule/). A value the waypoint cannot take
 * (negative, a bad duration, an unknown LB) throws through the reader, naming the full field path; a field the
 * waypoint does not implement is left out and named in `ignored`, so the status can say so.
 */
export interface ParsedTrafficPolicy {
  readonly policy: TrafficPolicy;
  /** `<field path>: <why>` for every field that is set but not applied. */
  readonly ignored: readonly string[];
}

const MAX_INT32 = 2_147_483_647;
const MAX_TIMER_MS = 2_147_483_647;
/** Istio's defaults for an `outlierDetection` stanza that leaves a field out. */
const OUTLIER_DEFAULTS = { consecutive5xxErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };
/** Envoy's defaults (Istio sets none): ring hash minimum ring size, Maglev table size (a prime). */
const DEFAULT_RING_SIZE = 1024;
const DEFAULT_MAGLEV_TABLE = 65_537;
const MAX_RING_SIZE = 8_388_608;
const MAX_MAGLEV_TABLE = 5_000_011;
/** Istio's `simple` values; LEAST_CONN is Istio's deprecated name of LEAST_REQUEST, UNSPECIFIED its default. */
const SIMPLE = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Fields of a trafficPolicy the waypoint does not apply, and why (the status names them). */
const UNAPPLIED_POLICY_FIELDS: Readonly<Record<string, string>> = {
  tls: 'the waypoint always reaches endpoints over HBONE mTLS',
  portLevelSettings: 'per-port policy is not supported; the Service-level policy applies on every port',
  tunnel: 'tunnelling is not supported',
  proxyProtocol: 'PROXY protocol is not supported',
};

export function parseTrafficPolicy(r: FieldReader, value: unknown, field: string): ParsedTrafficPolicy {
  const o = r.record(value, field);
  const ignored: string[] = [];
  for (const [key, why] of Object.entries(UNAPPLIED_POLICY_FIELDS)) {
    if (present(o[key])) ignored.push(`${field}.${key}: ${why}`);
  }
  const connectionPool = !present(o['connectionPool'])
    ? undefined
    : parseConnectionPool(r, o['connectionPool'], `${field}.connectionPool`, ignored);
  const outlierDetection = !present(o['outlierDetection'])
    ? undefined
    : parseOutlierDetection(r, o['outlierDetection'], `${field}.outlierDetection`, ignored);
  const loadBalancer = !present(o['loadBalancer']) ? undefined : parseLoadBalancer(r, o['loadBalancer'], `${field}.loadBalancer`, ignored);
  const policy: TrafficPolicy = {
    ...(connectionPool === undefined ? {} : { connectionPool }),
    ...(outlierDetection === undefined ? {} : { outlierDetection }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
  };
  return { policy, ignored };
}

/** Istio treats 0 as "not set" (Envoy's default: no limit), so a limit is kept only when positive. */
function limit(r: FieldReader, value: unknown, field: string): number | undefined {
  const v = r.optInteger(value, field, 0, MAX_INT32);
  return v === undefined || v === 0 ? undefined : v;
}

function duration(r: FieldReader, value: unknown, field: string): number | undefined {
  const text = r.optString(value, field);
  if (text === undefined) return undefined;
  const ms = parseIstioDurationMs(text);
  if (ms === undefined) return r.fail(field, `${JSON.stringify(text)} is not a duration (e.g. 10s, 1.5s, 1m30s, 500ms)`);
  if (ms > MAX_TIMER_MS) return r.fail(field, `${JSON.stringify(text)} is longer than the longest timer (${MAX_TIMER_MS} ms)`);
  return ms;
}

function positiveDuration(r: FieldReader, value: unknown, field: string): number | undefined {
  const ms = duration(r, value, field);
  if (ms === 0) return r.fail(field, 'must be at least 1ms');
  return ms;
}

function noteUnknown(o: Record<string, unknown>, field: string, known: readonly string[], ignored: string[], why: string): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key) && present(o[key])) ignored.push(`${field}.${key}: ${why}`);
  }
}

function parseConnectionPool(r: FieldReader, value: unknown, field: string, ignored: string[]): ConnectionPool {
  const o = r.record(value, field);
  const tcp = r.optRecord(o['tcp'], `${field}.tcp`) ?? {};
  const http = r.optRecord(o['http'], `${field}.http`) ?? {};
  noteUnknown(tcp, `${field}.tcp`, ['maxConnections'], ignored, 'not applied by the waypoint');
  noteUnknown(
    http,
    `${field}.http`,
    ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'idleTimeout'],
    ignored,
    'not applied by the waypoint',
  );
  const maxConnections = limit(r, tcp['maxConnections'], `${field}.tcp.maxConnections`);
  const http1MaxPendingRequests = limit(r, http['http1MaxPendingRequests'], `${field}.http.http1MaxPendingRequests`);
  const http2MaxRequests = limit(r, http['http2MaxRequests'], `${field}.http.http2MaxRequests`);
  const maxRequestsPerConnection = limit(r, http['maxRequestsPerConnection'], `${field}.http.maxRequestsPerConnection`);
  const idleTimeoutMs = positiveDuration(r, http['idleTimeout'], `${field}.http.idleTimeout`);
  return {
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(http1MaxPendingRequests === undefined ? {} : { http1MaxPendingRequests }),
    ...(http2MaxRequests === undefined ? {} : { http2MaxRequests }),
    ...(maxRequestsPerConnection === undefined ? {} : { maxRequestsPerConnection }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  };
}

function parseOutlierDetection(r: FieldReader, value: unknown, field: string, ignored: string[]): OutlierDetection {
  const o = r.record(value, field);
  noteUnknown(
    o,
    field,
    [
      'consecutive5xxErrors',
      'consecutiveGatewayErrors',
      'consecutiveErrors',
      'interval',
      'baseEjectionTime',
      'maxEjectionPercent',
      'minHealthPercent',
    ],
    ignored,
    'not applied by the waypoint',
  );
  const count = (key: string): number | undefined => r.optInteger(o[key], `${field}.${key}`, 0, MAX_INT32);
  const percent = (key: string): number | undefined => r.optInteger(o[key], `${field}.${key}`, 0, 100);
  // Istio (cluster_traffic_policy.go): the deprecated consecutiveErrors counts gateway errors only and turns the 5xx
  // rule off, unless the newer fields say otherwise.
  const legacy = count('consecutiveErrors');
  const legacyOn = legacy !== undefined && legacy > 0;
  return {
    consecutive5xxErrors: count('consecutive5xxErrors') ?? (legacyOn ? 0 : OUTLIER_DEFAULTS.consecutive5xxErrors),
    consecutiveGatewayErrors: count('consecutiveGatewayErrors') ?? (legacyOn ? legacy : 0),
    intervalMs: positiveDuration(r, o['interval'], `${field}.interval`) ?? OUTLIER_DEFAULTS.intervalMs,
    baseEjectionTimeMs: positiveDuration(r, o['baseEjectionTime'], `${field}.baseEjectionTime`) ?? OUTLIER_DEFAULTS.baseEjectionTimeMs,
    maxEjectionPercent: percent('maxEjectionPercent') ?? OUTLIER_DEFAULTS.maxEjectionPercent,
    minHealthPercent: percent('minHealthPercent') ?? 0,
  };
}

function parseLoadBalancer(r: FieldReader, value: unknown, field: string, ignored: string[]): LoadBalancer | undefined {
  const o = r.record(value, field);
  for (const key of ['localityLbSetting', 'warmupDurationSecs', 'warmup']) {
    if (present(o[key])) ignored.push(`${field}.${key}: not supported yet (left for later)`);
  }
  const simple = r.optOneOf(o['simple'], `${field}.simple`, SIMPLE);
  const hash = r.optRecord(o['consistentHash'], `${field}.consistentHash`);
  if (simple !== undefined && hash !== undefined) return r.fail(field, 'simple and consistentHash are mutually exclusive');
  if (hash !== undefined) return parseConsistentHash(r, hash, `${field}.consistentHash`);
  if (simple === undefined || simple === 'UNSPECIFIED') return undefined;
  const lb: SimpleLb = simple === 'LEAST_CONN' ? 'LEAST_REQUEST' : simple;
  return { kind: 'simple', simple: lb };
}

function parseConsistentHash(r: FieldReader, o: Record<string, unknown>, field: string): LoadBalancer {
  const keys: HashKey[] = [];
  const header = r.optString(o['httpHeaderName'], `${field}.httpHeaderName`);
  if (header !== undefined) keys.push({ type: 'header', name: token(r, header, `${field}.httpHeaderName`).toLowerCase() });
  const cookie = r.optRecord(o['httpCookie'], `${field}.httpCookie`);
  if (cookie !== undefined) keys.push(parseCookie(r, cookie, `${field}.httpCookie`));
  const sourceIp = r.optBoolean(o['useSourceIp'], `${field}.useSourceIp`);
  if (sourceIp === true) keys.push({ type: 'sourceIp' });
  const query = r.optString(o['httpQueryParameterName'], `${field}.httpQueryParameterName`);
  if (query !== undefined) keys.push({ type: 'queryParameter', name: r.name(query, `${field}.httpQueryParameterName`) });
  const key = keys[0];
  if (key === undefined) return r.fail(field, 'needs one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName');
  if (keys.length > 1) return r.fail(field, 'only one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName may be set');

  const ring = r.optRecord(o['ringHash'], `${field}.ringHash`);
  const maglev = r.optRecord(o['maglev'], `${field}.maglev`);
  if (ring !== undefined && maglev !== undefined) return r.fail(field, 'ringHash and maglev are mutually exclusive');
  if (maglev !== undefined) {
    const tableSize = r.optInteger(maglev['tableSize'], `${field}.maglev.tableSize`, 0, MAX_MAGLEV_TABLE - 1) || DEFAULT_MAGLEV_TABLE;
    if (!isPrime(tableSize)) return r.fail(`${field}.maglev.tableSize`, `must be a prime number (Maglev), got ${tableSize}`);
    return { kind: 'consistentHash', key, algorithm: { type: 'MAGLEV', tableSize } };
  }
  // The deprecated top-level minimumRingSize means the same as ringHash.minimumRingSize; 0 is Envoy's default.
  const size =
    (ring === undefined
      ? r.optInteger(o['minimumRingSize'], `${field}.minimumRingSize`, 0, MAX_RING_SIZE)
      : r.optInteger(ring['minimumRingSize'], `${field}.ringHash.minimumRingSize`, 0, MAX_RING_SIZE)) || DEFAULT_RING_SIZE;
  return { kind: 'consistentHash', key, algorithm: { type: 'RING_HASH', minimumRingSize: size } };
}

function parseCookie(r: FieldReader, o: Record<string, unknown>, field: string): HashKey {
  const name = token(r, r.name(o['name'], `${field}.name`), `${field}.name`);
  const path = r.optString(o['path'], `${field}.path`);
  if (path !== undefined && path !== '' && (!path.startsWith('/') || /[;\s]/.test(path))) {
    r.fail(`${field}.path`, `must be a path starting with '/' (no ';' or spaces), got ${JSON.stringify(path)}`);
  }
  // Envoy generates the cookie only when a TTL is given; 0s would ask for a session cookie, which is not supported,
  // so it is read as "do not generate".
  const ttlMs = duration(r, o['ttl'], `${field}.ttl`);
  return {
    type: 'cookie',
    name,
    ...(path === undefined || path === '' ? {} : { path }),
    ...(ttlMs === undefined || ttlMs === 0 ? {} : { ttlMs }),
  };
}

function token(r: FieldReader, value: string, field: string): string {
  if (!TOKEN.test(value)) r.fail(field, `${JSON.stringify(value)} is not a valid HTTP name`);
  return value;
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
