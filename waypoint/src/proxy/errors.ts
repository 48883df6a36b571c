import { AmbitError } from '@ambit/core';
import { HboneError } from '@ambit/core/hbone';
import type { ResponseFlag } from './proxy-inputs.ts';

/**
 * Errors of the waypoint's data path, and the one place they become responses (STYLE: linkerd maps errors to
 * responses in one file). Codes:
 * - `NO_ROUTE` (404 NR): the addressed parent has routes and none matches the request.
 * - `NO_VALID_BACKEND` (500 NR): the rule has no backend, all weights 0, or the backend chosen is invalid (Gateway API).
 * - `INVALID_FILTER` (500 -): the rule has a filter the controller could not resolve (an ExtensionRef to a missing
 *   HTTPFault); the spec asks for a 500, and Envoy has no flag for it.
 * - `NO_HEALTHY_UPSTREAM` (503 UH): the backend Service has no ready endpoint.
 * - `UPSTREAM_CONNECT_FAILED` (503 UF): the HBONE tunnel to the endpoint could not be opened (retriable).
 * - `UPSTREAM_REFUSED_STREAM` (503 UF): the endpoint refused the HTTP/2 stream before processing it (retriable).
 * - `UPSTREAM_RESET` (503 UC): the upstream connection ended before a complete response.
 * - `UPSTREAM_TIMEOUT` (504 UT): `timeouts.request` passed (or `timeouts.backendRequest` once a response had begun).
 * - `UPSTREAM_TRY_TIMEOUT` (504 UT): one try got no response head within `timeouts.backendRequest` (retried when the
 *   route has a retry stanza, GEP-1731).
 * - `UPSTREAM_OVERFLOW` (503 UO): the backend's DestinationRule connection pool is full (Envoy's circuit breakers:
 *   requests in flight, or connections and the pending queue); not retried, as Envoy does not retry an overflow.
 * - `DOWNSTREAM_GONE` (0 DC): the client went away.
 */
export type WaypointErrorCode =
  | 'NO_ROUTE'
  | 'NO_VALID_BACKEND'
  | 'INVALID_FILTER'
  | 'NO_HEALTHY_UPSTREAM'
  | 'UPSTREAM_CONNECT_FAILED'
  | 'UPSTREAM_REFUSED_STREAM'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_TRY_TIMEOUT'
  | 'UPSTREAM_OVERFLOW'
  | 'DOWNSTREAM_GONE';

export class WaypointError extends AmbitError {
  declare readonly code: WaypointErrorCode;

  constructor(code: WaypointErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** HBONE failures that mean "the endpoint was never reached", which Istio's default policy retries (connect-failure). */
const CONNECT_FAILURES = new Set(['HBONE_CONNECT_FAILED', 'HBONE_CONNECT_TIMEOUT', 'UPSTREAM_UNAVAILABLE', 'HBONE_STREAM_REFUSED']);

/** Maps whatever a try threw to a WaypointError (the HBONE pool's and undici's errors included). */
export function classifyUpstreamError(err: unknown, endpoint: string): WaypointError {
  if (err instanceof WaypointError) return err;
  if (err instanceof HboneError && CONNECT_FAILURES.has(err.code)) {
    return new WaypointError('UPSTREAM_CONNECT_FAILED', `tunnel to ${endpoint} failed: ${err.message}`, { cause: err });
  }
  if (err instanceof HboneError)
    return new WaypointError('UPSTREAM_CONNECT_FAILED', `tunnel to ${endpoint}: ${err.message}`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new WaypointError('UPSTREAM_RESET', `upstream ${endpoint}: ${message}`, { cause: err });
}

/** Whether Istio's retry conditions cover this failure (connect-failure, refused-stream; status codes are checked apart). */
export function isRetriableFailure(err: WaypointError): boolean {
  return err.code === 'UPSTREAM_CONNECT_FAILED' || err.code === 'UPSTREAM_REFUSED_STREAM';
}

/** The local reply for a failure, with Envoy's status and response flag. */
export function localReplyFor(err: WaypointError): { readonly status: number; readonly flag: ResponseFlag } {
  switch (err.code) {
    case 'NO_ROUTE':
      return { status: 404, flag: 'NR' };
    case 'NO_VALID_BACKEND':
      return { status: 500, flag: 'NR' };
    case 'INVALID_FILTER':
      return { status: 500, flag: '-' };
    case 'NO_HEALTHY_UPSTREAM':
      return { status: 503, flag: 'UH' };
    case 'UPSTREAM_CONNECT_FAILED':
    case 'UPSTREAM_REFUSED_STREAM':
      return { status: 503, flag: 'UF' };
    case 'UPSTREAM_RESET':
      return { status: 503, flag: 'UC' };
    case 'UPSTREAM_TIMEOUT':
    case 'UPSTREAM_TRY_TIMEOUT':
      return { status: 504, flag: 'UT' };
    case 'UPSTREAM_OVERFLOW':
      return { status: 503, flag: 'UO' };
    case 'DOWNSTREAM_GONE':
      return { status: 0, flag: 'DC' };
  }
}
