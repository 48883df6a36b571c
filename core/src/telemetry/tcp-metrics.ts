import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { ByteCount } from '../hbone/pump.ts';
import { TRAFFIC_LABELS, trafficLabels, type ConnectionLabelsInput, type TrafficLabels } from './traffic-labels.ts';

/**
 * Istio's L4 metrics as ztunnel reports them (reference istio-ambient.md §8): `istio_tcp_connections_opened_total`,
 * `_closed_total`, `istio_tcp_sent_bytes_total`, `istio_tcp_received_bytes_total`, with Istio's CommonTrafficLabels
 * (traffic-labels.ts). The client's ztunnel reports `reporter="source"`, the server's `reporter="destination"`, a
 * waypoint's TCP passthrough `reporter="waypoint"`.
 *
 * Bytes are kept per open connection and added to the counters when Prometheus scrapes (the counters' collect hook)
 * and at close, so long-lived connections show rising counters without a per-chunk counter update.
 */

/** One open connection's counters. */
export interface ConnectionMetrics {
  /**
   * Where the connection's byte counts are read, at every scrape and at close: what this reporter sent toward the
   * client / received from it (the relay's live counters; nothing runs per chunk).
   */
  follow(sent: ByteCount, received: ByteCount): void;
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

const NO_BYTES: ByteCount = { bytes: 0 };

interface Series {
  readonly live: Set<LiveConnection>;
  readonly sentBytes: Counter;
  readonly receivedBytes: Counter;
  readonly closed: Counter;
}

class LiveConnection implements ConnectionMetrics {
  private sentFrom = NO_BYTES;
  private receivedFrom = NO_BYTES;
  /** What the counters already hold for this connection. */
  private sentReported = 0;
  private receivedReported = 0;
  private done = false;
  constructor(
    readonly labels: TrafficLabels,
    private readonly series: Series,
  ) {}
  follow(sent: ByteCount, received: ByteCount): void {
    this.sentFrom = sent;
    this.receivedFrom = received;
  }
  /** Adds what moved since the last flush to the byte counters. */
  flush(): void {
    const sent = this.sentFrom.bytes;
    const received = this.receivedFrom.bytes;
    if (sent > this.sentReported) this.series.sentBytes.inc(this.labels, sent - this.sentReported);
    if (received > this.receivedReported) this.series.receivedBytes.inc(this.labels, received - this.receivedReported);
    this.sentReported = sent;
    this.receivedReported = received;
  }
  close(responseFlags = '-'): void {
    if (this.done) return;
    this.done = true;
    this.series.live.delete(this);
    // The byte series keep the labels they were opened with; only the close carries the outcome.
    this.flush();
    this.series.closed.inc(responseFlags === '-' ? this.labels : { ...this.labels, response_flags: responseFlags });
  }
}

/** Label sets are shared between connections with the same values (most connections repeat a few peer pairs). */
const MAX_INTERNED_LABEL_SETS = 10_000;

export function createTcpMetrics(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}): TcpMetrics {
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const live = new Set<LiveConnection>();
  const flush = (): void => {
    for (const c of live) c.flush();
  };
  const opened = new Counter({
    name: 'istio_tcp_connections_opened_total',
    help: 'TCP connections opened',
    labelNames: TRAFFIC_LABELS,
    registers: [registry],
  });
  const closed = new Counter({
    name: 'istio_tcp_connections_closed_total',
    help: 'TCP connections closed',
    labelNames: TRAFFIC_LABELS,
    registers: [registry],
  });
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
  const series: Series = { live, sentBytes, receivedBytes, closed };
  const interned = new Map<string, TrafficLabels>();
  const intern = (labels: TrafficLabels): TrafficLabels => {
    const key = TRAFFIC_LABELS.map((k) => labels[k]).join('\u0000');
    const known = interned.get(key);
    if (known !== undefined) return known;
    // Workloads come and go: start over rather than keep label sets of pods long gone.
    if (interned.size >= MAX_INTERNED_LABEL_SETS) interned.clear();
    interned.set(key, labels);
    return labels;
  };
  return {
    registry,
    open(input) {
      const labels = intern(trafficLabels(input, '-'));
      opened.inc(labels);
      const c = new LiveConnection(labels, series);
      live.add(c);
      return c;
    },
    refused(input, responseFlags) {
      const labels = trafficLabels(input, responseFlags);
      opened.inc(labels);
      closed.inc(labels);
    },
    openConnections: () => live.size,
  };
}
