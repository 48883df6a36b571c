import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually } from '@ambit/core/testing';
import type { RunResult } from './ambitctl.ts';
import { parseMetrics, sumOf } from './prometheus.ts';
import type { ClusterDriver, WaypointPod } from './waypoint.ts';

/** What the issue-14 checks share: the cluster, the namespace and its waypoint, the live manifests, the backends. */
export class PolicyContext {
  constructor(
    readonly k: ClusterDriver,
    readonly cluster: string,
    readonly ns: string,
    readonly liveDir: string,
    readonly waypoint: WaypointPod,
    /** Pod IPs of the three backends (their /_stats are asked directly). */
    readonly backendIps: readonly string[],
  ) {}

  /** `kubectl apply -f LIVE/FILE` as a user types it (the local API serves OpenAPI v3 of every kind it has). */
  tryApply(file: string): Promise<RunResult> {
    return this.k.kubectl(['apply', '-f', join(this.liveDir, file)]);
  }

  async apply(file: string): Promise<void> {
    const r = await this.tryApply(file);
    assert.equal(r.code, 0, `kubectl apply ${file}: ${r.stderr}`);
  }

  async remove(...files: string[]): Promise<void> {
    for (const f of files) await this.k.kubectl(['delete', '--ignore-not-found', '-f', join(this.liveDir, f)]);
  }

  /** A batch of requests from the `client` pod. */
  batch(url: string, n: number, o: BatchOptions = {}): Promise<BatchLine[]> {
    return batch(this.k, this.ns, 'client', url, n, o);
  }

  /** The waypoint's istio_requests_total for a Service now, and a function giving what was added since. */
  async countsSince(service: string): Promise<() => Promise<Record<string, number>>> {
    const before = await requestCounts(this.k, this.ns, this.waypoint.name, service);
    return async () => {
      const now = await requestCounts(this.k, this.ns, this.waypoint.name, service);
      return Object.fromEntries(Object.entries(now).map(([key, v]) => [key, v - (before[key] ?? 0)]));
    };
  }

  /** Sum of one metric family on the waypoint. */
  metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return waypointSum(this.k, this.ns, this.waypoint.name, name, labels);
  }
}

/** Response statuses of a batch, counted. */
export const statuses = (lines: readonly BatchLine[]): Record<string, number> => countBy(lines, (l) => l.status);

/** One request of a batch (fixtures/waypoint/apps/http-batch.mjs). */
export interface BatchLine {
  readonly i: number;
  /** ms since the batch started, when the request was sent. */
  readonly at: number;
  /** ms to the end of the answer. */
  readonly ms: number;
  /** 0: the request failed (`error`). */
  readonly status: number;
  /** The answering pod (x-backend-name), '-' for an answer the waypoint made itself. */
  readonly backend: string;
  readonly h?: Readonly<Record<string, string>>;
  readonly error?: string;
}

export interface BatchOptions {
  /** Keep-alive connections (and, without `rate`, workers sending back to back). Default 8. */
  readonly conns?: number;
  /** Open loop: requests per second, whatever the answers. */
  readonly rate?: number;
  readonly method?: string;
  /** `name: value`; `{i}` / `{i%K}` become the request index (modulo K). */
  readonly headers?: readonly string[];
  /** Response headers to report (`x-ratelimit-*` for a prefix). */
  readonly show?: readonly string[];
}

/** Sends `n` requests from one process inside a pod; one line per request, in request order. */
export async function batch(k: ClusterDriver, ns: string, pod: string, url: string, n: number, o: BatchOptions = {}): Promise<BatchLine[]> {
  const args = [url, String(n), '--conns', String(o.conns ?? 8)];
  if (o.rate !== undefined) args.push('--rate', String(o.rate));
  if (o.method !== undefined) args.push('--method', o.method);
  for (const h of o.headers ?? []) args.push('--header', h);
  if (o.show !== undefined) args.push('--show', o.show.join(','));
  const r = await k.app(ns, pod, 'http-batch.mjs', args, 120_000);
  assert.equal(r.code, 0, `http-batch ${args.join(' ')}: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as BatchLine);
  assert.equal(lines.length, n, `http-batch answered every request: ${r.stderr}`);
  return lines;
}

/** How many items fall under each key. */
export function countBy<T>(items: readonly T[], key: (x: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of items) out[String(key(x))] = (out[String(key(x))] ?? 0) + 1;
  return out;
}

/** The p-th percentile (0–100, nearest rank) of some values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly observedGeneration?: number;
}

interface WithStatus {
  metadata: { generation?: number };
  status?: { conditions?: Condition[] };
}

/**
 * Waits until an object's condition `type` has `status` for its current generation (a condition written for an older
 * spec does not count), and returns it. 'True or False': any verdict on the current spec (a part ignored may leave it
 * True with a message).
 */
export async function awaitCondition(
  k: ClusterDriver,
  ns: string,
  kindName: string,
  type: string,
  status: 'True' | 'False' | 'True or False',
  o: { readonly timeoutMs?: number; readonly message?: RegExp } = {},
): Promise<Condition> {
  return eventually(async () => {
    const obj = await k.kubectlJson<WithStatus>(['get', ...kindName.split(' '), '-n', ns]);
    const c = obj.status?.conditions?.find((x) => x.type === type);
    assert.ok(c !== undefined, `${kindName}: no ${type} condition in ${JSON.stringify(obj.status)}`);
    assert.ok(status.split(' or ').includes(c.status), `${kindName}: ${type} ${JSON.stringify(c)}, expected ${status}`);
    if (c.observedGeneration !== undefined && obj.metadata.generation !== undefined)
      assert.equal(c.observedGeneration, obj.metadata.generation, `${kindName}: ${type} is about the current spec: ${JSON.stringify(c)}`);
    // A bad field: the message names it (checked here too, in case the writer sets no observedGeneration).
    if (o.message !== undefined) assert.match(c.message ?? '', o.message, `${kindName}: ${type} names the field: ${JSON.stringify(c)}`);
    return c;
  }, o.timeoutMs ?? 10_000);
}

/** The waypoint's istio_requests_total for one destination Service, by `response_code/response_flags`. */
export async function requestCounts(k: ClusterDriver, ns: string, waypointPod: string, service: string): Promise<Record<string, number>> {
  const m = parseMetrics((await k.waypointMetrics(ns, waypointPod)).text);
  const out: Record<string, number> = {};
  for (const s of m) {
    if (s.name !== 'istio_requests_total' || s.labels['destination_service'] !== `${service}.${ns}.svc.cluster.local`) continue;
    const key = `${s.labels['response_code']}/${s.labels['response_flags']}`;
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** Sum of one metric family on the waypoint (every series). */
export async function waypointSum(
  k: ClusterDriver,
  ns: string,
  waypointPod: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sumOf(parseMetrics((await k.waypointMetrics(ns, waypointPod)).text), name, labels);
}

/** Requests the three backend pods counted under `bucket` (their GET /_stats, asked directly by pod IP). */
export async function backendCount(
  k: ClusterDriver,
  ns: string,
  client: string,
  podIps: readonly string[],
  bucket: string,
): Promise<number> {
  let total = 0;
  for (const ip of podIps) {
    const r = await k.exec(ns, client, ['curl', '-sS', '--max-time', '5', `http://${ip}:8080/_stats`]);
    assert.equal(r.code, 0, r.stderr);
    total += (JSON.parse(r.stdout) as { buckets: Record<string, number> }).buckets[bucket] ?? 0;
  }
  return total;
}

/** Waits until a route's first parent (the Service) has Accepted and ResolvedRefs True, and returns its conditions. */
export async function awaitRouteAccepted(
  k: ClusterDriver,
  ns: string,
  kind: string,
  name: string,
  timeoutMs = 10_000,
): Promise<Condition[]> {
  return eventually(async () => {
    const r = await k.kubectlJson<{ status?: { parents?: Array<{ conditions?: Condition[] }> } }>(['get', kind, name, '-n', ns]);
    const conditions = r.status?.parents?.[0]?.conditions ?? [];
    for (const type of ['Accepted', 'ResolvedRefs'])
      assert.equal(conditions.find((c) => c.type === type)?.status, 'True', `${kind} ${name}: ${type} in ${JSON.stringify(r.status)}`);
    return conditions;
  }, timeoutMs);
}
