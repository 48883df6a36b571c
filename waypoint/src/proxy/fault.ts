import type { FaultAbort, RouteFilter } from '@ambit/core/routes';
import { WaypointError } from './errors.ts';
import type { HeaderPairs } from './headers.ts';

/** A route rule's fault filter (an `ambit.dev/v1alpha1` HTTPFault, Istio's VirtualService `fault` fields). */
export type FaultFilter = Extract<RouteFilter, { type: 'Fault' }>;

/** What the draws of one request decided: each part present only when drawn. */
export interface FaultDraw {
  readonly delayMs?: number;
  readonly abort?: FaultAbort;
}

/** Envoy's body for an aborted request (fault filter). */
export const FAULT_ABORT_BODY = 'fault filter abort';

/** True with probability `percent`/100; `random` returns [0, 1). */
function drawn(percent: number, random: () => number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return random() * 100 < percent;
}

/** The delay and the abort are drawn independently, as Envoy's fault filter does. */
export function drawFault(f: FaultFilter, random: () => number): FaultDraw {
  const delay = f.delay !== undefined && drawn(f.delay.percent, random) ? f.delay.fixedDelayMs : undefined;
  const abort = f.abort !== undefined && drawn(f.abort.percent, random) ? f.abort : undefined;
  return { ...(delay === undefined ? {} : { delayMs: delay }), ...(abort === undefined ? {} : { abort }) };
}

/**
 * Holds the request for `delayMs` before it goes on. The delay counts toward `timeouts.request` as in Envoy (the
 * router's timer starts with the request): when the deadline comes first the request ends there with a 504. A client
 * that goes away ends the wait at once (`onGone`), so a delayed request holds nothing after its client left.
 */
export function faultDelay(delayMs: number, deadline: number | undefined, onGone: (cb: () => void) => void): Promise<void> {
  const left = deadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, deadline - performance.now());
  const waitMs = Math.min(delayMs, left);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      if (waitMs < delayMs) reject(new WaypointError('UPSTREAM_TIMEOUT', `request timeout passed during a fault delay of ${delayMs} ms`));
      else resolve();
    }, waitMs);
    onGone(() => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new WaypointError('DOWNSTREAM_GONE', 'client went away during a fault delay'));
    });
  });
}

/**
 * The local reply of a drawn abort. `httpStatus`: that status with Envoy's body. `grpcStatus`: HTTP 200 as a gRPC
 * trailers-only response (`grpc-status` and `grpc-message` in the head, end of stream) — also for a request that is
 * not gRPC, as Envoy answers whatever the request.
 */
export function abortReply(abort: FaultAbort): {
  readonly status: number;
  readonly grpcStatus: number | undefined;
  readonly headers: HeaderPairs;
  readonly body: string | undefined;
} {
  if (abort.grpcStatus !== undefined) {
    return {
      status: 200,
      grpcStatus: abort.grpcStatus,
      headers: [
        ['content-type', 'application/grpc'],
        ['grpc-status', String(abort.grpcStatus)],
        // Printable ASCII needs no percent-encoding (gRPC over HTTP/2: Status-Message).
        ['grpc-message', FAULT_ABORT_BODY],
      ],
      body: undefined,
    };
  }
  return { status: abort.httpStatus ?? 500, grpcStatus: undefined, headers: [], body: FAULT_ABORT_BODY };
}
