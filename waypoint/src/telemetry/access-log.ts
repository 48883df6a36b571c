import type { Logger, Service, Workload } from '@ambit/core';
import { spiffeId } from '@ambit/core';
import type { RequestRecord, TcpRecord } from '../proxy/proxy-inputs.ts';

/**
 * One access-log line per request and one per TCP passthrough connection, written when it ends (STYLE rule 15), with
 * the field names of Istio's JSON access log (Envoy's `%START_TIME%` → `start_time`, …) so existing log queries carry
 * over. `downstream_peer_uri_san` is the caller's SPIFFE ID (the identity the source ztunnel presented);
 * `upstream_peer` the identity of the endpoint reached. INFO, or ERROR with `error` when the exchange failed.
 */

const identityOf = (w: Workload | undefined): string | undefined =>
  w === undefined ? undefined : spiffeId(w.trustDomain, w.namespace, w.serviceAccount);

/** Istio's waypoint cluster name for a Service (`inbound-vip|<port>|<protocol>|<hostname>`); '-' when unknown. */
function upstreamCluster(service: Service | undefined, port: string, protocol: string): string {
  return service === undefined ? '-' : `inbound-vip|${port}|${protocol}|${service.hostname}`;
}

/** The port of an `host:port` / `[v6]:port` authority, or '' (a Host header may carry none). */
function authorityPort(authority: string): string {
  const m = /:(\d{1,5})$/.exec(authority);
  return m?.[1] ?? '';
}

const dash = (v: string | undefined): string => (v === undefined || v === '' ? '-' : v);

export function logRequest(log: Logger, r: RequestRecord, nowMs: number): void {
  const line: Record<string, string | number> = {
    start_time: new Date(nowMs - r.durationMs).toISOString(),
    method: r.method,
    path: r.path,
    protocol: r.httpVersion,
    response_code: r.responseCode,
    response_flags: r.responseFlags,
    bytes_received: r.requestBytes,
    bytes_sent: r.responseBytes,
    duration: Math.round(r.durationMs),
    upstream_host: dash(r.upstreamHost),
    upstream_cluster: upstreamCluster(r.service, authorityPort(r.authority), r.protocol),
    route_name: dash(r.route),
    // The address the waypoint appends to x-forwarded-for (the HBONE peer's), as Envoy would log it.
    x_forwarded_for: r.sourceAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''),
    user_agent: dash(r.userAgent),
    request_id: r.requestId,
    authority: r.authority,
    downstream_remote_address: r.sourceAddr,
    downstream_peer_uri_san: dash(r.sourcePrincipal),
    upstream_peer: dash(identityOf(r.destination)),
    attempts: r.attempts,
  };
  if (r.grpcStatus !== undefined) line['grpc_status'] = r.grpcStatus;
  if (r.traceparent !== undefined) line['traceparent'] = r.traceparent;
  if (r.authz !== undefined) addAuthz(line, r.authz);
  if (r.error !== undefined) {
    line['error'] = r.error;
    log.error(line, 'request complete');
  } else log.info(line, 'request complete');
}

/**
 * The L7 authorization decision (when policies applied): `authz` allow|deny, the deciding `authz_policy`
 * (`namespace/name`) and `authz_rule` (its rule index), and when dry-run policies would have decided otherwise,
 * `authz_dry_run` and `authz_dry_run_policy` — Envoy's RBAC shadow engine result, which Istio logs for dry-run.
 */
function addAuthz(line: Record<string, string | number>, a: NonNullable<RequestRecord['authz']>): void {
  line['authz'] = a.allow ? 'allow' : 'deny';
  if (a.policy !== undefined) line['authz_policy'] = a.policy;
  if (a.rule !== undefined) line['authz_rule'] = a.rule;
  if (a.dryRun !== undefined) {
    line['authz_dry_run'] = a.dryRun.allow ? 'allow' : 'deny';
    if (a.dryRun.policy !== undefined) line['authz_dry_run_policy'] = a.dryRun.policy;
  }
}

export function logTcp(log: Logger, r: TcpRecord, nowMs: number): void {
  const line: Record<string, string | number> = {
    start_time: new Date(nowMs - r.durationMs).toISOString(),
    protocol: 'tcp',
    response_flags: r.responseFlags,
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    duration: Math.round(r.durationMs),
    upstream_host: dash(r.upstreamHost),
    // The Service port is not part of a TCP record (the upstream host's port is the pod's): left empty.
    upstream_cluster: upstreamCluster(r.service, '', 'tcp'),
    downstream_remote_address: r.sourceAddr,
    downstream_peer_uri_san: dash(r.sourcePrincipal),
    upstream_peer: dash(identityOf(r.destination)),
  };
  if (r.error !== undefined) {
    line['error'] = r.error;
    log.error(line, 'connection complete');
  } else log.info(line, 'connection complete');
}
