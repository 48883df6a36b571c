import { AmbitError } from '../errors.ts';

/**
 * Errors of HBONE tunnels. Codes:
 * - `POLICY_DENIED` (401), `UPSTREAM_UNAVAILABLE` (503), `HBONE_BAD_REQUEST` (400), `HBONE_HTTP_STATUS` (any other
 *   non-200): the server answered the CONNECT; `status` holds the HTTP status.
 * - `HBONE_CONNECT_FAILED`: TCP, TLS or HTTP/2 session set-up failed (the cause says which).
 * - `HBONE_CONNECT_TIMEOUT`: the session was not up within the connect timeout.
 * - `PEER_IDENTITY_MISMATCH` / `PEER_IDENTITY_INVALID`: the peer's certificate names the wrong or no SPIFFE identity.
 * - `HBONE_STREAM_RESET`: the stream was reset or its session died before the response; `rstCode` holds the code.
 * - `HBONE_STREAM_REFUSED`: the server did not take the stream (REFUSED_STREAM, or GOAWAY); `open` retries it once.
 * - `HBONE_PING_TIMEOUT`: the peer stopped answering PINGs; the session and its tunnels were torn down.
 * - `HBONE_POOL_CLOSED`: `open` after or during `close()`.
 */
export class HboneError extends AmbitError {
  readonly status: number | undefined;
  readonly rstCode: number | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; status?: number; rstCode?: number }) {
    super(code, message, options);
    this.status = options?.status;
    this.rstCode = options?.rstCode;
  }
}

/** The error a non-200 CONNECT response maps to (the one place statuses become codes). */
export function statusError(status: number, authority: string): HboneError {
  const code =
    status === 401 ? 'POLICY_DENIED' : status === 503 ? 'UPSTREAM_UNAVAILABLE' : status === 400 ? 'HBONE_BAD_REQUEST' : 'HBONE_HTTP_STATUS';
  return new HboneError(code, `HBONE CONNECT to ${authority} answered ${status}`, { status });
}

// RFC 9113 §7 error codes, indexed by value.
const RST_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
] as const;

/** `PROTOCOL_ERROR`, `REFUSED_STREAM`, … for logs and messages (RFC 9113 §7). */
export function rstCodeName(code: number): string {
  return RST_NAMES[code] ?? `0x${code.toString(16)}`;
}
