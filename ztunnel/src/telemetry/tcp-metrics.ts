import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Service, Workload } from '@ambit/core';
import { workloadIdentity } from '../state/mesh-state.ts';

/**
 * Istio's L4 metrics as ztunnel reports them (reference istio-ambient.md §8): `istio_tcp_connections_opened_total`,
 * `_closed_total`, `istio_tcp_sent_bytes_total`, `istio_tcp_received_bytes_total`, with Istio's CommonTrafficLabels
 * (missing values `unknown`). The client's ztunnel reports `reporter="source"`, the server's `reporter="destination"`.
 * Labels carry workloads, services and identities only — never addresses or ports — so cardinality stays bounded.
 *
 * Bytes are kept per open connection and added to the counters when Prometheus scrapes (the counters' collect hook)
 * and at close, so long-lived connections show rising counters without a per-chunk counter update.
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
  readonly reporter: 'source' | 'destination';
  readonly source: Workload | undefined;
  /** The client's SPIFFE ID when known (HBONE), else derived from `source` on the source side. */
  readonly sourcePrincipal: string | undefined;
  readonly destination: Workload | undefined;
  readonly service: Service | undefined;
  readonly mtls: boolean;
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
    destination_principal: d === undefined ? 'unknown' : workloadIdentity(d),
    destination_app: u(d?.canonicalName),
    destination_version: u(d?.canonicalRevision),
    destination_cluster: u(d?.clusterId),
    request_protocol: 'tcp',
    response_flags: responseFlags,
    connection_security_policy: i.mtls ? 'mutual_tls' : 'unknown',
  };
}

/** One open connection's counters. */
export interface ConnectionMetrics {
  /** Bytes this reporter sent toward the client / received from it, since open. */
  sent(n: number): void;
  received(n: number): void;
  /** Closes the connection's series; `responseFlags` default `-`. Idempotent. */
  close(responseFlags?: string): void;
}

export interface TcpMetrics {
  readonly registry: Registry;
  /** Counts an opened connection; bytes and the close go through the returned handle. */
  open(input: ConnectionLabelsInput): ConnectionMetrics;
  /** A connection refused before it carried data (DENY, CONNECT failure): opened and closed at once. */
  refused(input: ConnectionLabelsInput, responseFlags: string): void;
  /** Open connections (for tests and the admin dump). */
  openConnections(): number;
}

interface Live {
  readonly labels: TrafficLabels;
  sent: number;
  received: number;
}

export function createTcpMetrics(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}): TcpMetrics {
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const live = new Set<Live>();
  const flush = (): void => {
    for (const c of live) flushOne(c);
  };
  const opened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: TRAFFIC_LABELS, registers: [registry] });
  const closed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: TRAFFIC_LABELS, registers: [registry] });
  const sentBytes = new Counter({
    name: 'istio_tcp_sent_bytes_total',
    help: 'Bytes sent to the client (destination reporter) or to the server (source reporter)',
    labelNames: TRAFFIC_LABELS,
    registers: [registry],
    collect: flush,
  });
  const receivedBytes = new Counter({
    name: 'istio_tcp_received_bytes_total',
    help: 'Bytes received from the client (destination reporter) or from the server (source reporter)',
    labelNames: TRAFFIC_LABELS,
    registers: [registry],
    collect: flush,
  });
  function flushOne(c: Live): void {
    if (c.sent > 0) sentBytes.inc(c.labels, c.sent);
    if (c.received > 0) receivedBytes.inc(c.labels, c.received);
    c.sent = 0;
    c.received = 0;
  }
  return {
    registry,
    open(input) {
      const labels = trafficLabels(input, '-');
      opened.inc(labels);
      const c: Live = { labels, sent: 0, received: 0 };
      live.add(c);
      let done = false;
      return {
        sent: (n) => void (c.sent += n),
        received: (n) => void (c.received += n),
        close(responseFlags = '-') {
          if (done) return;
          done = true;
          live.delete(c);
          // The byte series keep the labels they were opened with; only the close carries the outcome.
          flushOne(c);
          closed.inc(responseFlags === '-' ? labels : { ...labels, response_flags: responseFlags });
        },
      };
    },
    refused(input, responseFlags) {
      const labels = trafficLabels(input, responseFlags);
      opened.inc(labels);
      closed.inc(labels);
    },
    openConnections: () => live.size,
  };
}
