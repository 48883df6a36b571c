// What the data path reports through: Istio's TCP metrics, ztunnel's health metrics, and the access log.
import type { Logger } from '@ambit/core';
import type { HealthMetrics } from './health-metrics.ts';
import type { TcpMetrics } from '@ambit/core/telemetry';

export interface Telemetry {
  readonly metrics: TcpMetrics;
  readonly health: HealthMetrics;
  /** The access log (one line per connection). */
  readonly access: Logger;
}

export { logAccess, type AccessRecord } from './access-log.ts';
export { createHealthMetrics, registerHealthGauges, type HealthMetrics, type HealthSources } from './health-metrics.ts';
export { startMetricsServer } from './metrics-server.ts';
