import { asRecord } from '@ambit/core';
import { formatTable } from '../table.ts';

// `ambitctl waypoint-config traffic`: the ServiceTraffic each waypoint holds (its config dump's `traffic`, shaped as
// core/src/traffic/types.ts), one row per Service.

const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(asRecord) : []);

/** `lb=LEAST_REQUEST pool outlier`: what of a DestinationRule's trafficPolicy is set. */
export function describePolicy(policy: Record<string, unknown>): string {
  const parts: string[] = [];
  const lb = asRecord(policy['loadBalancer']);
  if (lb['kind'] === 'simple') parts.push(`lb=${s(lb['simple'])}`);
  if (lb['kind'] === 'consistentHash') {
    const key = asRecord(lb['key']);
    const algorithm = s(asRecord(lb['algorithm'])['type']);
    parts.push(`lb=${algorithm}(${s(key['type'])}${key['name'] === undefined ? '' : ` ${s(key['name'])}`})`);
  }
  if (policy['connectionPool'] !== undefined) parts.push('pool');
  if (policy['outlierDetection'] !== undefined) parts.push('outlier');
  return parts.length === 0 ? '-' : parts.join(' ');
}

const bucket = (b: unknown): string => {
  const r = asRecord(b);
  return `${s(r['requestsPerSecond'])}/s burst ${s(r['burst'])}`;
};

/** `demo/limit: total 10/s burst 1, identity 5/s burst 1, 1 override`. */
export function describeRateLimit(rateLimit: unknown): string {
  if (rateLimit === undefined || rateLimit === null) return '-';
  const r = asRecord(rateLimit);
  const parts: string[] = [];
  if (r['total'] !== undefined) parts.push(`total ${bucket(r['total'])}`);
  if (r['perIdentity'] !== undefined) parts.push(`identity ${bucket(r['perIdentity'])}`);
  const overrides = list(r['overrides']).length;
  if (overrides > 0) parts.push(`${overrides} override${overrides === 1 ? '' : 's'}`);
  return `${s(r['policy'])}: ${parts.join(', ')}`;
}

/** `20%+10/s ttl 10s`, or `default (20%+10/s ttl 10s)` when the Service sets none. */
export function describeRetryBudget(budget: unknown): string {
  if (budget === undefined || budget === null) return 'default';
  const r = asRecord(budget);
  const pct = Math.round(Number(r['retryRatio']) * 1000) / 10;
  return `${pct}%+${s(r['minRetriesPerSecond'])}/s ttl ${Number(r['ttlMs']) / 1000}s`;
}

export function formatTraffic(dumps: ReadonlyArray<{ pod: string; dump: Record<string, unknown> }>): string {
  const rows: string[][] = [];
  for (const { pod, dump } of dumps) {
    for (const t of list(dump['traffic'])) {
      const service = asRecord(t['service']);
      const subsets = list(t['subsets']).map((x) => `${s(x['name'])}(${Array.isArray(x['workloads']) ? x['workloads'].length : 0})`);
      rows.push([
        pod,
        `${s(service['namespace'])}/${s(service['hostname'])}`,
        s(t['destinationRule']) || '-',
        describePolicy(asRecord(t['trafficPolicy'])),
        subsets.length === 0 ? '-' : subsets.join(','),
        describeRetryBudget(t['retryBudget']),
        describeRateLimit(t['rateLimit']),
      ]);
    }
  }
  return formatTable(['WAYPOINT', 'SERVICE', 'DESTINATION RULE', 'POLICY', 'SUBSETS', 'RETRY BUDGET', 'RATE LIMIT'], rows);
}
