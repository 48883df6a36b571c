import type { Clock, Logger } from '@ambit/core';
import { systemClock } from '@ambit/core';
import { createTcpMetrics, type TcpMetrics } from '@ambit/core/telemetry';
import { Gauge, type Registry } from 'prom-client';
import type { WaypointTelemetry } from '../proxy/proxy-inputs.ts';
import { logRequest, logTcp } from './access-log.ts';
import { createPolicyMetrics } from './policy-metrics.ts';
import { createRequestMetrics } from './request-metrics.ts';

export interface WaypointTelemetryOptions {
  readonly registry: Registry;
  /** The access log (one line per request and per TCP connection); data-path loggers are asynchronous. */
  readonly access: Logger;
  /** Reported as `istio_build{component="proxy",tag}`. */
  readonly version: string;
  /** Default the system clock (start times of access lines). */
  readonly clock?: Clock;
}

export interface WaypointTelemetryHandle extends WaypointTelemetry {
  readonly tcp: TcpMetrics;
}

/**
 * What the data path reports through (contract: WaypointTelemetry): Istio's request metrics and `istio_tcp_*` with
 * `reporter="waypoint"`, `istio_build`, the process metrics, and the access log. Each record is counted once, by the
 * one call the data path makes when the exchange ends.
 */
export function createWaypointTelemetry(o: WaypointTelemetryOptions): WaypointTelemetryHandle {
  const clock = o.clock ?? systemClock;
  // Istio's Envoy reports itself as component "proxy"; the process_* and nodejs_* metrics come with the TCP set.
  new Gauge({ name: 'istio_build', help: 'Build of this proxy', labelNames: ['component', 'tag'], registers: [o.registry] }).set(
    { component: 'proxy', tag: o.version },
    1,
  );
  const requests = createRequestMetrics(o.registry);
  const tcp = createTcpMetrics(o.registry);
  const policy = createPolicyMetrics(o.registry, o.access);
  return {
    tcp,
    retry: (service, outcome) => policy.retry(service, outcome),
    outlier: (service, endpoint, event) => policy.outlier(service, endpoint, event),
    request(record) {
      requests.record(record);
      logRequest(o.access, record, clock.now());
    },
    tcpOpen(labels, live) {
      const conn = tcp.open({
        reporter: 'waypoint',
        source: labels.source,
        sourcePrincipal: labels.sourcePrincipal,
        destination: labels.destination,
        service: labels.service,
        mtls: true,
      });
      // Read at each scrape and at close: long connections show progress without per-chunk work.
      conn.follow(
        {
          get bytes() {
            return live.sent();
          },
        },
        {
          get bytes() {
            return live.received();
          },
        },
      );
      let closed = false;
      return {
        close(record) {
          if (closed) return;
          closed = true;
          conn.close(record.responseFlags);
          logTcp(o.access, record, clock.now());
        },
      };
    },
  };
}
