import type { Logger, Service } from '@ambit/core';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The waypoint's own metrics for what traffic policy did (Istio has no names for these): retries and retry-budget
 * refusals, and outlier ejections. Labelled by the destination Service's hostname only, like Istio's
 * `destination_service`, so cardinality is bounded by the Services the waypoint serves.
 */
export interface PolicyMetrics {
  retry(service: Service | undefined, outcome: 'sent' | 'budget_exhausted'): void;
  outlier(service: Service, endpoint: string, event: 'ejected' | 'returned'): void;
}

const UNKNOWN = 'unknown';

export function createPolicyMetrics(registry: Registry, log: Logger): PolicyMetrics {
  const retries = new Counter({
    name: 'ambit_waypoint_retries_total',
    help: 'Retries by destination service: outcome "sent" (a retry went out) or "budget_exhausted" (the retry budget refused one)',
    labelNames: ['destination_service', 'outcome'],
    registers: [registry],
  });
  const ejections = new Counter({
    name: 'ambit_waypoint_outlier_ejections_total',
    help: 'Endpoints ejected by outlier detection, by destination service',
    labelNames: ['destination_service'],
    registers: [registry],
  });
  const ejected = new Gauge({
    name: 'ambit_waypoint_outlier_ejected',
    help: 'Endpoints currently ejected by outlier detection, by destination service',
    labelNames: ['destination_service'],
    registers: [registry],
  });
  return {
    retry(service, outcome) {
      retries.inc({ destination_service: service?.hostname ?? UNKNOWN, outcome });
    },
    outlier(service, endpoint, event) {
      const labels = { destination_service: service.hostname };
      if (event === 'ejected') {
        ejections.inc(labels);
        ejected.inc(labels);
      } else ejected.dec(labels);
      // Ejections are rare and operators want to see them next to the failures that caused them.
      log.info({ service: service.hostname, endpoint, event }, event === 'ejected' ? 'outlier ejected' : 'outlier returned');
    },
  };
}
