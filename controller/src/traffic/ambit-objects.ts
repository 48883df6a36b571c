import { asRecord, describeObject, type FieldReader, kubeObjectReader } from '@ambit/core';
import type { FaultAbort, FaultDelay } from '@ambit/core/routes';
import type { TokenBucket } from '@ambit/core/traffic';
import { parseObjectMeta, type ObjectMeta } from '../model/kube-objects.ts';
import { parseIstioDurationMs } from './istio-duration.ts';

/**
 * Ambit's own kinds (`ambit.dev/v1alpha1`, contract 4), read once here (STYLE rule 4): LocalRateLimit (modelled on
 * Linkerd's HTTPLocalRateLimitPolicy) and HTTPFault (Istio's VirtualService HTTPFaultInjection fields). The CRD
 * schemas validate the same shapes on a real API server; these checks hold where none runs, and a bad field throws
 * KubeObjectError naming it, so the last good version stays in force.
 */

export const AMBIT_GROUP = 'ambit.dev';
export const AMBIT_VERSION = `${AMBIT_GROUP}/v1alpha1`;

export interface AmbitObjectMeta {
  readonly meta: ObjectMeta;
  readonly generation?: number;
}

export interface LocalRateLimitView extends AmbitObjectMeta {
  /** The targeted Service's name (kind Service, core group, the policy's namespace). */
  readonly target: string;
  readonly total?: TokenBucket;
  readonly identity?: TokenBucket;
  readonly overrides: ReadonlyArray<{
    readonly bucket: TokenBucket;
    readonly clientRefs: ReadonlyArray<{ readonly namespace: string; readonly name: string }>;
  }>;
}

export interface HttpFaultView extends AmbitObjectMeta {
  readonly delay?: FaultDelay;
  readonly abort?: FaultAbort;
}

const MAX_INT32 = 2_147_483_647;
const MAX_TIMER_MS = 2_147_483_647;

function readMeta(value: unknown): { r: FieldReader; o: Record<string, unknown>; base: AmbitObjectMeta } {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const generation = r.optInteger(asRecord(o['metadata'])['generation'], 'metadata.generation', 0, Number.MAX_SAFE_INTEGER);
  return { r, o, base: generation === undefined ? { meta } : { meta, generation } };
}

export function parseLocalRateLimit(value: unknown): LocalRateLimitView {
  const { r, o, base } = readMeta(value);
  const spec = r.record(o['spec'], 'spec');
  const ref = r.record(spec['targetRef'], 'spec.targetRef');
  const group = r.optString(ref['group'], 'spec.targetRef.group') ?? '';
  if (group !== '' && group !== 'core') r.fail('spec.targetRef.group', `must be "" (core), got ${JSON.stringify(group)}`);
  r.oneOf(ref['kind'], 'spec.targetRef.kind', ['Service'] as const);
  const target = r.name(ref['name'], 'spec.targetRef.name');
  const total = bucket(r, spec['total'], 'spec.total');
  const identity = bucket(r, spec['identity'], 'spec.identity');
  const overrides = r.optArray(spec['overrides'], 'spec.overrides').map((x, i) => {
    const f = `spec.overrides[${i}]`;
    const b = bucket(r, x, f);
    if (b === undefined) return r.fail(f, 'required (must be an object)');
    const clientRefs = r.array(r.record(x, f)['clientRefs'], `${f}.clientRefs`).map((c, j) => {
      const cf = `${f}.clientRefs[${j}]`;
      const co = r.record(c, cf);
      r.oneOf(co['kind'], `${cf}.kind`, ['ServiceAccount'] as const);
      return { namespace: r.optString(co['namespace'], `${cf}.namespace`) || base.meta.namespace, name: r.name(co['name'], `${cf}.name`) };
    });
    if (clientRefs.length === 0) r.fail(`${f}.clientRefs`, 'must name at least one ServiceAccount');
    return { bucket: b, clientRefs };
  });
  return {
    ...base,
    target,
    overrides,
    ...(total === undefined ? {} : { total }),
    ...(identity === undefined ? {} : { identity }),
  };
}

/**
 * `{requestsPerSecond, burst}`; burst defaults to max(2, rps/10), 100 ms worth of the rate but at least two tokens: a
 * one-token bucket throws away the refill that arrives while it is full, so a client sending faster than the limit
 * would get clearly less than the limit (26–27 of 30 at 10 rps over 3 s, measured).
 */
function bucket(r: FieldReader, value: unknown, field: string): TokenBucket | undefined {
  const o = r.optRecord(value, field);
  if (o === undefined) return undefined;
  const requestsPerSecond = r.integer(o['requestsPerSecond'], `${field}.requestsPerSecond`, 1, MAX_INT32);
  const burst = r.optInteger(o['burst'], `${field}.burst`, 1, MAX_INT32) ?? Math.max(2, Math.floor(requestsPerSecond / 10));
  return { requestsPerSecond, burst };
}

/** gRPC status code names (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), as Istio's `grpcStatus` takes them. */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

export function parseHttpFault(value: unknown): HttpFaultView {
  const { r, o, base } = readMeta(value);
  const spec = r.record(o['spec'], 'spec');
  const d = r.optRecord(spec['delay'], 'spec.delay');
  const a = r.optRecord(spec['abort'], 'spec.abort');
  if (d === undefined && a === undefined) r.fail('spec', 'needs a delay or an abort');
  let delay: FaultDelay | undefined;
  if (d !== undefined) {
    const text = r.string(d['fixedDelay'], 'spec.delay.fixedDelay');
    const ms = parseIstioDurationMs(text);
    if (ms === undefined || ms > MAX_TIMER_MS)
      r.fail('spec.delay.fixedDelay', `${JSON.stringify(text)} is not a duration (e.g. 200ms, 1.5s)`);
    delay = { percent: percent(r, d['percentage'], 'spec.delay.percentage'), fixedDelayMs: ms ?? 0 };
  }
  let abort: FaultAbort | undefined;
  if (a !== undefined) {
    const hasHttp = a['httpStatus'] !== undefined && a['httpStatus'] !== null;
    const hasGrpc = a['grpcStatus'] !== undefined && a['grpcStatus'] !== null;
    if (hasHttp === hasGrpc) r.fail('spec.abort', 'needs exactly one of httpStatus and grpcStatus');
    const p = percent(r, a['percentage'], 'spec.abort.percentage');
    abort = hasHttp
      ? { percent: p, httpStatus: r.integer(a['httpStatus'], 'spec.abort.httpStatus', 200, 599) }
      : { percent: p, grpcStatus: grpcStatus(r, a['grpcStatus'], 'spec.abort.grpcStatus') };
  }
  return { ...base, ...(delay === undefined ? {} : { delay }), ...(abort === undefined ? {} : { abort }) };
}

/** Istio's `percentage: {value}`: 0–100, fractions allowed; absent means every request. */
function percent(r: FieldReader, value: unknown, field: string): number {
  const o = r.optRecord(value, field);
  if (o === undefined) return 100;
  return r.number(o['value'], `${field}.value`, 0, 100);
}

/** A gRPC status: Istio's code name (`UNAVAILABLE`) or its number 0–16. */
function grpcStatus(r: FieldReader, value: unknown, field: string): number {
  if (typeof value === 'number') return r.integer(value, field, 0, 16);
  const name = r.string(value, field);
  const code = /^[0-9]+$/.test(name) ? Number(name) : GRPC_STATUS_CODES[name.toUpperCase()];
  if (code === undefined || code > 16)
    return r.fail(field, `${JSON.stringify(name)} is not a gRPC status (a name such as UNAVAILABLE, or 0–16)`);
  return code;
}
