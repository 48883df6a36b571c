import { Counter, type Registry } from 'prom-client';

export interface CaMetrics {
  /** A request arrived (counted before any check). */
  received(): void;
  signed(): void;
  /** `reason` is the refusal's CaError code without `CA_`, lower-cased (`bad_token`, `not_on_node`, …). */
  refused(reason: string): void;
}

/**
 * CA counters on the given registry. The first two keep istiod's names (citadel_server_*) so existing dashboards
 * work; istiod splits refusals over several counters, Ambit uses one with a `reason` label.
 */
export function createCaMetrics(registry: Registry): CaMetrics {
  const csrs = new Counter({ name: 'citadel_server_csr_count', help: 'CSRs received by the CA', registers: [registry] });
  const issued = new Counter({ name: 'citadel_server_success_cert_issuance_count', help: 'Certificates issued', registers: [registry] });
  const refused = new Counter({
    name: 'ambit_ca_refused_total',
    help: 'CSRs refused by the CA, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return {
    received: () => csrs.inc(),
    signed: () => issued.inc(),
    refused: (reason) => refused.inc({ reason }),
  };
}
