/**
 * The xDS body of a ServiceTraffic (SERVICE_TRAFFIC_TYPE_URL): UTF-8 JSON, decoded at the edge where the controller's
 * bytes become the waypoint's domain objects (STYLE rule 4); a bad field throws FieldError `MALFORMED_RESOURCE`
 * naming resource and field, which the xDS client turns into a NACK.
 *
 * MINIMAL VERSION (wp-guards branch): the traffic-ctl engineer owns this file (contract 2); this one exists so the
 * waypoint can subscribe before theirs lands. It checks `service`, `retryBudget` and `rateLimit` field by field and
 * only the shape (object / list of named subsets with workload uids) of `trafficPolicy` and `subsets`.
 */
import { FieldError } from '../fields/field-error.ts';
import { FieldReader } from '../fields/field-reader.ts';
import { errorMessage } from '../errors.ts';
import {
  serviceTrafficKey,
  type RateLimit,
  type RetryBudget,
  type ServiceTraffic,
  type Subset,
  type TokenBucket,
  type TrafficPolicy,
} from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeServiceTraffic(t: ServiceTraffic): Uint8Array {
  return encoder.encode(JSON.stringify(t));
}

export function decodeServiceTraffic(name: string, bytes: Uint8Array): ServiceTraffic {
  const c = FieldReader.throwing(`ServiceTraffic ${JSON.stringify(name)}`, (o, f, p) => new FieldError('MALFORMED_RESOURCE', o, f, p));
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    return c.fail('(body)', `is not UTF-8 JSON: ${errorMessage(err)}`);
  }
  const r = c.record(json, '(body)');
  const s = c.record(r['service'], 'service');
  const service = { namespace: c.name(s['namespace'], 'service.namespace'), hostname: c.name(s['hostname'], 'service.hostname') };
  if (serviceTrafficKey(service) !== name)
    c.fail('service', `names ${JSON.stringify(serviceTrafficKey(service))}, not the resource's Service`);
  const destinationRule = c.optString(r['destinationRule'], 'destinationRule');
  const trafficPolicy = c.optRecord(r['trafficPolicy'], 'trafficPolicy') as TrafficPolicy | undefined;
  const subsets = c.optArray(r['subsets'], 'subsets').map((x, i): Subset => {
    const sub = c.record(x, `subsets[${i}]`);
    const tp = c.optRecord(sub['trafficPolicy'], `subsets[${i}].trafficPolicy`) as TrafficPolicy | undefined;
    return {
      name: c.name(sub['name'], `subsets[${i}].name`),
      workloads: c.optStrings(sub['workloads'], `subsets[${i}].workloads`),
      ...(tp === undefined ? {} : { trafficPolicy: tp }),
    };
  });
  const rb = c.optRecord(r['retryBudget'], 'retryBudget');
  const retryBudget = rb === undefined ? undefined : readRetryBudget(c, rb);
  const rl = c.optRecord(r['rateLimit'], 'rateLimit');
  const rateLimit = rl === undefined ? undefined : readRateLimit(c, rl);
  return {
    service,
    subsets,
    ...(destinationRule === undefined ? {} : { destinationRule }),
    ...(trafficPolicy === undefined ? {} : { trafficPolicy }),
    ...(retryBudget === undefined ? {} : { retryBudget }),
    ...(rateLimit === undefined ? {} : { rateLimit }),
  };
}

function nonNegative(c: FieldReader, value: unknown, field: string, max: number): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= max) return value;
  return c.mismatch(value, field, `a number from 0 to ${max}`);
}

function readRetryBudget(c: FieldReader, r: Record<string, unknown>): RetryBudget {
  return {
    retryRatio: nonNegative(c, r['retryRatio'], 'retryBudget.retryRatio', 1000),
    minRetriesPerSecond: nonNegative(c, r['minRetriesPerSecond'], 'retryBudget.minRetriesPerSecond', 1_000_000),
    ttlMs: c.integer(r['ttlMs'], 'retryBudget.ttlMs', 1, 3_600_000),
  };
}

function readBucket(c: FieldReader, value: unknown, field: string): TokenBucket {
  const r = c.record(value, field);
  const requestsPerSecond = nonNegative(c, r['requestsPerSecond'], `${field}.requestsPerSecond`, 1_000_000_000);
  if (requestsPerSecond === 0) c.fail(`${field}.requestsPerSecond`, 'must be more than 0');
  const burst = nonNegative(c, r['burst'], `${field}.burst`, 1_000_000_000);
  if (burst < 1) c.fail(`${field}.burst`, 'must be at least 1');
  return { requestsPerSecond, burst };
}

function readRateLimit(c: FieldReader, r: Record<string, unknown>): RateLimit {
  const total = r['total'] === undefined || r['total'] === null ? undefined : readBucket(c, r['total'], 'rateLimit.total');
  const perIdentity =
    r['perIdentity'] === undefined || r['perIdentity'] === null ? undefined : readBucket(c, r['perIdentity'], 'rateLimit.perIdentity');
  const overrides = c.optArray(r['overrides'], 'rateLimit.overrides').map((x, i) => {
    const o = c.record(x, `rateLimit.overrides[${i}]`);
    return {
      bucket: readBucket(c, o['bucket'], `rateLimit.overrides[${i}].bucket`),
      identities: c.strings(o['identities'], `rateLimit.overrides[${i}].identities`),
    };
  });
  return {
    policy: c.name(r['policy'], 'rateLimit.policy'),
    overrides,
    ...(total === undefined ? {} : { total }),
    ...(perIdentity === undefined ? {} : { perIdentity }),
  };
}
