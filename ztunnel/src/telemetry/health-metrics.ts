import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertStatus } from '@ambit/core/identity';

/** What the health metrics read, at scrape time. */
export interface HealthSources {
  xdsConnected(): boolean;
  agentConnected(): boolean;
  enrolledPods(): number;
  certificates(): CertStatus[];
}

export interface HealthMetrics {
  /** Counts an error of the data path or control plane by a short code (`no_healthy_upstream`, `hbone_connect`, …). */
  error(code: string): void;
}

/**
 * ztunnel's own health, next to the traffic metrics, in two parts registered at two points of start-up. The error
 * counter (`ambit_ztunnel_errors_total{code}`) is counted by the data path, so it is part of the proxy inputs and
 * exists before any listener.
 */
export function createHealthMetrics(registry: Registry): HealthMetrics {
  const errors = new Counter({ name: 'ambit_ztunnel_errors_total', help: 'Errors by code', labelNames: ['code'], registers: [registry] });
  return { error: (code) => errors.inc({ code }) };
}

/**
 * The gauges (build, control-plane and node-agent connection state, captured pods, certificate expiry per identity)
 * read ztunnel's parts when Prometheus scrapes, so they are registered last, once every part they read exists.
 */
export function registerHealthGauges(registry: Registry, src: HealthSources, version: string): void {
  new Gauge({ name: 'istio_build', help: 'Build of this proxy', labelNames: ['component', 'tag'], registers: [registry] }).set(
    { component: 'ztunnel', tag: version },
    1,
  );
  new Gauge({
    name: 'ambit_ztunnel_xds_connected',
    help: '1 while the xDS stream to the controller is up and has delivered config',
    registers: [registry],
    collect() {
      this.set(src.xdsConnected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ambit_ztunnel_node_agent_connected',
    help: '1 while the node agent link is up and its snapshot was applied',
    registers: [registry],
    collect() {
      this.set(src.agentConnected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ambit_ztunnel_enrolled_pods',
    help: 'Pods this ztunnel serves (listeners up in their network namespace)',
    registers: [registry],
    collect() {
      this.set(src.enrolledPods());
    },
  });
  new Gauge({
    name: 'ambit_ztunnel_certificate_expiry_timestamp_seconds',
    help: 'When the workload certificate held for an identity expires (Unix seconds)',
    labelNames: ['identity'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of src.certificates()) {
        if (c.notAfter !== undefined) this.set({ identity: c.identity }, Math.floor(Date.parse(c.notAfter) / 1000));
      }
    },
  });
}
