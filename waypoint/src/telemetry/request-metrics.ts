import { TRAFFIC_LABELS, trafficLabels, type TrafficLabels } from '@ambit/core/telemetry';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { RequestRecord } from '../proxy/proxy-inputs.ts';

/**
 * Istio's HTTP metrics as a waypoint reports them (reference istio-ambient.md §8, Envoy's stats plugin with
 * `reporter="waypoint"`): `istio_requests_total`, `istio_request_duration_milliseconds`, `istio_request_bytes`,
 * `istio_response_bytes`. Labels are Istio's CommonTrafficLabels plus `response_code` and `grpc_response_status`;
 * never paths, addresses or ports, so cardinality stays bounded by the workload pairs and status codes.
 */
export const REQUEST_LABELS = [...TRAFFIC_LABELS, 'response_code', 'grpc_response_status'] as const;
export type RequestLabels = Record<(typeof REQUEST_LABELS)[number], string>;

/** Envoy's default histogram buckets, which Istio keeps for these metrics (ms for durations, bytes for sizes). */
export const ISTIO_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

export interface RequestMetrics {
  record(r: RequestRecord): void;
}

/** Label sets are shared between requests with the same values (a waypoint sees a few peer pairs and codes). */
const MAX_INTERNED_LABEL_SETS = 10_000;

export function requestLabels(r: RequestRecord): RequestLabels {
  const base: TrafficLabels = trafficLabels(
    {
      reporter: 'waypoint',
      source: r.source,
      sourcePrincipal: r.sourcePrincipal,
      destination: r.destination,
      service: r.service,
      // Both legs of a waypoint are HBONE: mutual TLS always.
      mtls: true,
      requestProtocol: r.protocol,
    },
    r.responseFlags,
  );
  return {
    ...base,
    response_code: String(r.responseCode),
    // Istio reports `-` for a gRPC request that ended without a status, and leaves plain HTTP at `-` too.
    grpc_response_status: r.grpcStatus === undefined ? '-' : String(r.grpcStatus),
  };
}

export function createRequestMetrics(registry: Registry): RequestMetrics {
  const total = new Counter({ name: 'istio_requests_total', help: 'Requests', labelNames: REQUEST_LABELS, registers: [registry] });
  const duration = new Histogram({
    name: 'istio_request_duration_milliseconds',
    help: 'Request duration, ms',
    labelNames: REQUEST_LABELS,
    buckets: ISTIO_BUCKETS,
    registers: [registry],
  });
  const requestBytes = new Histogram({
    name: 'istio_request_bytes',
    help: 'Request sizes (headers and body), bytes',
    labelNames: REQUEST_LABELS,
    buckets: ISTIO_BUCKETS,
    registers: [registry],
  });
  const responseBytes = new Histogram({
    name: 'istio_response_bytes',
    help: 'Response sizes (headers and body), bytes',
    labelNames: REQUEST_LABELS,
    buckets: ISTIO_BUCKETS,
    registers: [registry],
  });
  const interned = new Map<string, RequestLabels>();
  const intern = (labels: RequestLabels): RequestLabels => {
    const key = REQUEST_LABELS.map((k) => labels[k]).join('\u0000');
    const known = interned.get(key);
    if (known !== undefined) return known;
    // Workloads come and go: start over rather than keep label sets of pods long gone.
    if (interned.size >= MAX_INTERNED_LABEL_SETS) interned.clear();
    interned.set(key, labels);
    return labels;
  };
  return {
    record(r) {
      const labels = intern(requestLabels(r));
      total.inc(labels);
      duration.observe(labels, r.durationMs);
      requestBytes.observe(labels, r.requestBytes);
      responseBytes.observe(labels, r.responseBytes);
    },
  };
}
