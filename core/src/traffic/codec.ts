/**
 * The xDS body of a ServiceTraffic (SERVICE_TRAFFIC_TYPE_URL): UTF-8 JSON. Decoding is the waypoint's edge (STYLE
 * rule 4): every field is checked against the range the waypoint can enforce exactly, and anything else throws a
 * FieldError (code `MALFORMED_RESOURCE`) naming the resource and the field, which the xDS client turns into a NACK —
 * the waypoint keeps its last good traffic policy for that Service.
 */
import type { FieldReader } from '../fields/field-reader.ts';
import { encodeJsonResource, readJsonResource } from '../fields/json-resource.ts';
import {
  serviceTrafficKey,
  type ConnectionPool,
  type HashKey,
  type LoadBalancer,
  type OutlierDetection,
  type RateLimit,
  type RetryBudget,
  type ServiceTraffic,
  type SimpleLb,
  type Subset,
  type TokenBucket,
  type TrafficPolicy,
} from './types.ts';

/** The xDS body of a ServiceTraffic: UTF-8 JSON (see SERVICE_TRAFFIC_TYPE_URL). */
export function encodeServiceTraffic(t: ServiceTraffic): Uint8Array {
  return encodeJsonResource(t);
}

/**
 * The ServiceTraffic in resource `name`'s body, checked field by field; throws FieldError `MALFORMED_RESOURCE` naming
 * the resource and field. The body's Service must be the one the resource name says (serviceTrafficKey), so one
 * Service's policy can never be filed under another.
 */
export function decodeServiceTraffic(name: string, bytes: Uint8Array): ServiceTraffic {
  const { c, body: r } = readJsonResource('ServiceTraffic', name, bytes);
  const s = c.record(r['service'], 'service');
  const service = { namespace: c.name(s['namespace'], 'service.namespace'), hostname: c.name(s['hostname'], 'service.hostname') };
  const key = serviceTrafficKey(service);
  if (key !== name) c.fail('service', `names ${JSON.stringify(key)}, not the resource's Service`);
  const destinationRule = c.optString(r['destinationRule'], 'destinationRule');
  if (destinationRule === '') c.fail('destinationRule', 'must not be empty');
  const trafficPolicy = absent(r['trafficPolicy']) ? undefined : readTrafficPolicy(c, r['trafficPolicy'], 'trafficPolicy');
  const subsets = c.optArray(r['subsets'], 'subsets').map((x, i) => readSubset(c, x, `subsets[${i}]`));
  const names = subsets.map((x) => x.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) c.fail('subsets', `subset ${JSON.stringify(repeated)} appears more than once`);
  const retryBudget = absent(r['retryBudget']) ? undefined : readRetryBudget(c, r['retryBudget'], 'retryBudget');
  const rateLimit = absent(r['rateLimit']) ? undefined : readRateLimit(c, r['rateLimit'], 'rateLimit');
  return {
    service,
    subsets,
    ...(destinationRule === undefined ? {} : { destinationRule }),
    ...(trafficPolicy === undefined ? {} : { trafficPolicy }),
    ...(retryBudget === undefined ? {} : { retryBudget }),
    ...(rateLimit === undefined ? {} : { rateLimit }),
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** Istio's counts are int32; a Node timer holds at most 2^31-1 ms. */
const MAX_INT32 = 2_147_483_647;
const MAX_TIMER_MS = 2_147_483_647;
/** Envoy's ring hash `maximum_ring_size` default (8M entries): a bigger ring is refused by Envoy too. */
const MAX_RING_SIZE = 8_388_608;
/** Envoy's Maglev table size must be a prime below 5,000,011. */
const MAX_MAGLEV_TABLE = 5_000_011;
/** A retry ratio above this is a typo, not a budget (Linkerd has no upper bound; 1000 retries per request is none). */
const MAX_RETRY_RATIO = 1000;
const SIMPLE_LB: readonly SimpleLb[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH'];
/** RFC 9110 token: a header or cookie name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const absent = (v: unknown): boolean => v === undefined || v === null;

function readTrafficPolicy(c: FieldReader, value: unknown, field: string): TrafficPolicy {
  const r = c.record(value, field);
  const connectionPool = absent(r['connectionPool']) ? undefined : readConnectionPool(c, r['connectionPool'], `${field}.connectionPool`);
  const outlierDetection = absent(r['outlierDetection'])
    ? undefined
    : readOutlierDetection(c, r['outlierDetection'], `${field}.outlierDetection`);
  const loadBalancer = absent(r['loadBalancer']) ? undefined : readLoadBalancer(c, r['loadBalancer'], `${field}.loadBalancer`);
  return {
    ...(connectionPool === undefined ? {} : { connectionPool }),
    ...(outlierDetection === undefined ? {} : { outlierDetection }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
  };
}

function readConnectionPool(c: FieldReader, value: unknown, field: string): ConnectionPool {
  const r = c.record(value, field);
  const pool: Record<string, number> = {};
  // Limits are positive: "unlimited" is an absent field, never 0 (which would refuse every request).
  for (const k of ['maxConnections', 'http1MaxPendingRequests', 'http2MaxRequests'] as const) {
    const v = c.optInteger(r[k], `${field}.${k}`, 1, MAX_INT32);
    if (v !== undefined) pool[k] = v;
  }
  const perConnection = c.optInteger(r['maxRequestsPerConnection'], `${field}.maxRequestsPerConnection`, 0, MAX_INT32);
  if (perConnection !== undefined) pool['maxRequestsPerConnection'] = perConnection;
  const idle = c.optInteger(r['idleTimeoutMs'], `${field}.idleTimeoutMs`, 1, MAX_TIMER_MS);
  if (idle !== undefined) pool['idleTimeoutMs'] = idle;
  return pool;
}

function readOutlierDetection(c: FieldReader, value: unknown, field: string): OutlierDetection {
  const r = c.record(value, field);
  return {
    consecutive5xxErrors: c.integer(r['consecutive5xxErrors'], `${field}.consecutive5xxErrors`, 0, MAX_INT32),
    consecutiveGatewayErrors: c.integer(r['consecutiveGatewayErrors'], `${field}.consecutiveGatewayErrors`, 0, MAX_INT32),
    intervalMs: c.integer(r['intervalMs'], `${field}.intervalMs`, 1, MAX_TIMER_MS),
    baseEjectionTimeMs: c.integer(r['baseEjectionTimeMs'], `${field}.baseEjectionTimeMs`, 1, MAX_TIMER_MS),
    maxEjectionPercent: c.number(r['maxEjectionPercent'], `${field}.maxEjectionPercent`, 0, 100),
    minHealthPercent: c.number(r['minHealthPercent'], `${field}.minHealthPercent`, 0, 100),
  };
}

function readLoadBalancer(c: FieldReader, value: unknown, field: string): LoadBalancer {
  const r = c.record(value, field);
  const kind = c.oneOf(r['kind'], `${field}.kind`, ['simple', 'consistentHash'] as const);
  if (kind === 'simple') return { kind, simple: c.oneOf(r['simple'], `${field}.simple`, SIMPLE_LB) };
  const key = readHashKey(c, r['key'], `${field}.key`);
  const a = c.record(r['algorithm'], `${field}.algorithm`);
  const type = c.oneOf(a['type'], `${field}.algorithm.type`, ['RING_HASH', 'MAGLEV'] as const);
  if (type === 'RING_HASH') {
    return {
      kind,
      key,
      algorithm: { type, minimumRingSize: c.integer(a['minimumRingSize'], `${field}.algorithm.minimumRingSize`, 1, MAX_RING_SIZE) },
    };
  }
  const tableSize = c.integer(a['tableSize'], `${field}.algorithm.tableSize`, 2, MAX_MAGLEV_TABLE - 1);
  // Maglev's permutation needs a prime table size (Envoy refuses any other).
  if (!isPrime(tableSize)) c.fail(`${field}.algorithm.tableSize`, `must be a prime number, got number ${tableSize}`);
  return { kind, key, algorithm: { type, tableSize } };
}

function readHashKey(c: FieldReader, value: unknown, field: string): HashKey {
  const r = c.record(value, field);
  const type = c.oneOf(r['type'], `${field}.type`, ['header', 'cookie', 'sourceIp', 'queryParameter'] as const);
  switch (type) {
    case 'sourceIp':
      return { type };
    case 'queryParameter':
      return { type, name: c.name(r['name'], `${field}.name`) };
    case 'header': {
      const name = token(c, r['name'], `${field}.name`);
      if (name !== name.toLowerCase()) c.fail(`${field}.name`, `must be lower-case, got ${JSON.stringify(name)}`);
      return { type, name };
    }
    case 'cookie': {
      const name = token(c, r['name'], `${field}.name`);
      const path = c.optString(r['path'], `${field}.path`);
      if (path !== undefined && (!path.startsWith('/') || /[;\s]/.test(path))) {
        c.fail(`${field}.path`, `must be a cookie path starting with '/' (no ';' or spaces), got ${JSON.stringify(path)}`);
      }
      const ttlMs = c.optInteger(r['ttlMs'], `${field}.ttlMs`, 1, MAX_TIMER_MS);
      return { type, name, ...(path === undefined ? {} : { path }), ...(ttlMs === undefined ? {} : { ttlMs }) };
    }
  }
}

function readSubset(c: FieldReader, value: unknown, field: string): Subset {
  const r = c.record(value, field);
  const name = c.name(r['name'], `${field}.name`);
  const workloads = c.optStrings(r['workloads'], `${field}.workloads`);
  workloads.forEach((w, i) => {
    if (w === '') c.fail(`${field}.workloads[${i}]`, 'must not be empty');
  });
  const trafficPolicy = absent(r['trafficPolicy']) ? undefined : readTrafficPolicy(c, r['trafficPolicy'], `${field}.trafficPolicy`);
  return { name, workloads: [...workloads], ...(trafficPolicy === undefined ? {} : { trafficPolicy }) };
}

function readRetryBudget(c: FieldReader, value: unknown, field: string): RetryBudget {
  const r = c.record(value, field);
  return {
    retryRatio: c.number(r['retryRatio'], `${field}.retryRatio`, 0, MAX_RETRY_RATIO),
    minRetriesPerSecond: c.number(r['minRetriesPerSecond'], `${field}.minRetriesPerSecond`, 0, MAX_INT32),
    ttlMs: c.integer(r['ttlMs'], `${field}.ttlMs`, 1, MAX_TIMER_MS),
  };
}

function readRateLimit(c: FieldReader, value: unknown, field: string): RateLimit {
  const r = c.record(value, field);
  const policy = c.name(r['policy'], `${field}.policy`);
  const total = absent(r['total']) ? undefined : readBucket(c, r['total'], `${field}.total`);
  const perIdentity = absent(r['perIdentity']) ? undefined : readBucket(c, r['perIdentity'], `${field}.perIdentity`);
  const overrides = c.optArray(r['overrides'], `${field}.overrides`).map((x, i) => {
    const f = `${field}.overrides[${i}]`;
    const o = c.record(x, f);
    const identities = c.strings(o['identities'], `${f}.identities`);
    identities.forEach((id, j) => {
      if (!id.startsWith('spiffe://')) c.fail(`${f}.identities[${j}]`, `must be a SPIFFE ID (spiffe://…), got ${JSON.stringify(id)}`);
    });
    return { bucket: readBucket(c, o['bucket'], `${f}.bucket`), identities: [...identities] };
  });
  return {
    policy,
    overrides,
    ...(total === undefined ? {} : { total }),
    ...(perIdentity === undefined ? {} : { perIdentity }),
  };
}

function readBucket(c: FieldReader, value: unknown, field: string): TokenBucket {
  const r = c.record(value, field);
  return {
    requestsPerSecond: c.integer(r['requestsPerSecond'], `${field}.requestsPerSecond`, 1, MAX_INT32),
    burst: c.integer(r['burst'], `${field}.burst`, 1, MAX_INT32),
  };
}

function token(c: FieldReader, value: unknown, field: string): string {
  const n = c.name(value, field);
  if (!TOKEN.test(n)) c.fail(field, `${JSON.stringify(n)} is not an HTTP token (RFC 9110)`);
  return n;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
