import type { Service, Workload } from '../model/types.ts';
import { spiffeId } from '../model/spiffe.ts';

/**
 * Istio's CommonTrafficLabels (reference istio-ambient.md §8), the labels of `istio_tcp_*` and, with `response_code`
 * and `grpc_response_status` added, of `istio_requests_total` and its siblings. ztunnel reports `reporter="source"`
 * or `"destination"`, a waypoint `"waypoint"`. Labels carry workloads, services and identities only — never
 * addresses, ports or paths — so cardinality stays bounded. Missing values are `unknown`.
 */
export const TRAFFIC_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;
export type TrafficLabels = Record<(typeof TRAFFIC_LABELS)[number], string>;

/** What decides the labels of one connection. */
export interface ConnectionLabelsInput {
  readonly reporter: 'source' | 'destination' | 'waypoint';
  readonly source: Workload | undefined;
  /** The client's SPIFFE ID when known (HBONE), else derived from `source` on the source side. */
  readonly sourcePrincipal: string | undefined;
  readonly destination: Workload | undefined;
  readonly service: Service | undefined;
  readonly mtls: boolean;
  /** `tcp` (default), or `http`/`grpc` for a waypoint's request metrics. */
  readonly requestProtocol?: 'tcp' | 'http' | 'grpc';
}

const u = (v: string | undefined): string => (v === undefined || v === '' ? 'unknown' : v);

export function trafficLabels(i: ConnectionLabelsInput, responseFlags: string): TrafficLabels {
  const s = i.source;
  const d = i.destination;
  return {
    reporter: i.reporter,
    source_workload: u(s?.workloadName),
    source_canonical_service: u(s?.canonicalName),
    source_canonical_revision: u(s?.canonicalRevision),
    source_workload_namespace: u(s?.namespace),
    source_principal: u(i.sourcePrincipal),
    // ztunnel reports the canonical name and revision as app and version.
    source_app: u(s?.canonicalName),
    source_version: u(s?.canonicalRevision),
    source_cluster: u(s?.clusterId),
    destination_service: u(i.service?.hostname),
    destination_service_namespace: u(i.service?.namespace),
    destination_service_name: u(i.service?.name),
    destination_workload: u(d?.workloadName),
    destination_canonical_service: u(d?.canonicalName),
    destination_canonical_revision: u(d?.canonicalRevision),
    destination_workload_namespace: u(d?.namespace),
    destination_principal: d === undefined ? 'unknown' : spiffeId(d.trustDomain, d.namespace, d.serviceAccount),
    destination_app: u(d?.canonicalName),
    destination_version: u(d?.canonicalRevision),
    destination_cluster: u(d?.clusterId),
    request_protocol: i.requestProtocol ?? 'tcp',
    response_flags: responseFlags,
    connection_security_policy: i.mtls ? 'mutual_tls' : 'unknown',
  };
}
