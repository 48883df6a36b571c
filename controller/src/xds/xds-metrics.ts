import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';

/**
 * The xDS server's metrics, under istiod's names so existing Istio dashboards read them (STYLE rule 16). `type` is the
 * short resource type (`Address`, `Authorization`; `unknown` for types never published, so a client cannot grow the
 * label set).
 */
export interface XdsServerMetrics {
  /** Responses sent, per type. */
  readonly pushes: Counter<'type'>;
  /** NACKs received, per type. */
  readonly nacks: Counter<'type'>;
  /** Seconds from publish() to the proxy's ACK of the response carrying the change. */
  readonly convergenceSeconds: Histogram<'type'>;
  /** Proxies with an identified stream. */
  readonly connectedProxies: Gauge;
  /** Every metric above, for `registry.registerMetric` when no registry was given at creation. */
  all(): Metric[];
}

export function createXdsServerMetrics(registry?: Registry): XdsServerMetrics {
  const registers = registry ? [registry] : [];
  const pushes = new Counter({ name: 'pilot_xds_pushes', help: 'Delta xDS responses sent, by type.', labelNames: ['type'], registers });
  const nacks = new Counter({
    name: 'pilot_total_xds_rejects',
    help: 'Delta xDS responses rejected (NACKed) by proxies, by type.',
    labelNames: ['type'],
    registers,
  });
  const convergenceSeconds = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Seconds from a configuration change being published to a proxy acknowledging it.',
    labelNames: ['type'],
    // Istio's buckets start at 0.1 s; a 100 ms debounce makes the sub-100 ms ones the interesting ones here.
    buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 3, 5, 10, 20, 30],
    registers,
  });
  const connectedProxies = new Gauge({
    name: 'pilot_xds',
    help: 'Number of proxies connected to this controller over xDS.',
    registers,
  });
  return { pushes, nacks, convergenceSeconds, connectedProxies, all: () => [pushes, nacks, convergenceSeconds, connectedProxies] };
}

/** The metric label of a type URL: its message name, for types the server publishes; `unknown` otherwise. */
export function typeLabel(typeUrl: string, published: boolean): string {
  if (!published) return 'unknown';
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1) || 'unknown';
}
