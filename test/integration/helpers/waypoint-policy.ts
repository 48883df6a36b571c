import assert from 'node:assert/strict';
import { eventually } from '@ambit/core/testing';
import { parseMetrics, sumOf } from './prometheus.ts';
import type { ClusterDriver } from './waypoint.ts';

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
 * spec does not count), and returns it.
 */
export async function awaitCondition(
  k: ClusterDriver,
  ns: string,
  kindName: string,
  type: string,
  status: 'True' | 'False',
  timeoutMs = 10_000,
): Promise<Condition> {
  return eventually(async () => {
    const o = await k.kubectlJson<WithStatus>(['get', ...kindName.split(' '), '-n', ns]);
    const c = o.status?.conditions?.find((x) => x.type === type);
    assert.ok(c !== undefined, `${kindName}: no ${type} condition in ${JSON.stringify(o.status)}`);
    assert.equal(c.status, status, `${kindName}: ${type} ${JSON.stringify(c)}`);
    if (c.observedGeneration !== undefined && o.metadata.generation !== undefined)
      assert.equal(c.observedGeneration, o.metadata.generation, `${kindName}: ${type} is about the current spec: ${JSON.stringify(c)}`);
    return c;
  }, timeoutMs);
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
