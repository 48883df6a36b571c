import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Workload } from '@ambit/core';
import { workloadIdentity } from '../state/mesh-state.ts';

/**
 * Istio's L4 connection metrics as the destination ztunnel reports them (reference istio-ambient.md §8):
 * `istio_tcp_connections_opened_total` / `_closed_total`, counted once per inbound connection at close, denied ones
 * included with `response_flags="DENY"`. Labels carry workloads and identities only, never addresses or ports, so
 * cardinality stays bounded. (The full label set, byte counters and the source reporter come with the telemetry issue.)
 */
const LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export interface InboundConnectionRecord {
  readonly source: Workload | undefined;
  /** SPIFFE ID of the peer (HBONE); undefined for plaintext. */
  readonly sourceIdentity: string | undefined;
  readonly destination: Workload | undefined;
  readonly denied: boolean;
  readonly mtls: boolean;
}

export interface TcpMetrics {
  readonly registry: Registry;
  inboundClosed(rec: InboundConnectionRecord): void;
}

export function createTcpMetrics(): TcpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const opened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: LABELS, registers: [registry] });
  const closed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: LABELS, registers: [registry] });
  return {
    registry,
    inboundClosed(rec) {
      const labels = {
        reporter: 'destination',
        source_workload: rec.source?.workloadName || 'unknown',
        source_workload_namespace: rec.source?.namespace ?? 'unknown',
        source_principal: rec.sourceIdentity ?? 'unknown',
        destination_workload: rec.destination?.workloadName || 'unknown',
        destination_workload_namespace: rec.destination?.namespace ?? 'unknown',
        destination_principal: rec.destination === undefined ? 'unknown' : workloadIdentity(rec.destination),
        request_protocol: 'tcp',
        response_flags: rec.denied ? 'DENY' : '-',
        connection_security_policy: rec.mtls ? 'mutual_tls' : 'unknown',
      };
      opened.inc(labels);
      closed.inc(labels);
    },
  };
}
