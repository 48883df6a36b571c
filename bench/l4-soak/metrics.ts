import { run } from '../../test/integration/helpers/ambitctl.ts';
import { parseMetrics, sumOf } from '../../test/integration/helpers/prometheus.ts';

/** A ztunnel's connection counters for one reporter, summed over every series (all workload pairs and flags). */
export interface ConnectionCounts {
  readonly opened: number;
  readonly closed: number;
}

/**
 * Reads the ztunnel's metrics from inside its node's network namespace (the DaemonSet is hostNetwork and serves
 * 15020 on every address of the node), with curl running in that namespace, and sums its TCP connection counters
 * for `reporter`: `source` is the client side's ztunnel, `destination` the server side's (Istio's labels).
 */
export async function connectionCounts(nodeNetns: string, reporter: 'source' | 'destination'): Promise<ConnectionCounts> {
  const r = await run(['ip', 'netns', 'exec', nodeNetns, 'curl', '-sS', '-f', '--max-time', '10', 'http://127.0.0.1:15020/metrics'], {
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(`ztunnel metrics in ${nodeNetns}: curl exited ${r.code}: ${r.stderr}`);
  const samples = parseMetrics(r.stdout);
  return {
    opened: sumOf(samples, 'istio_tcp_connections_opened_total', { reporter }),
    closed: sumOf(samples, 'istio_tcp_connections_closed_total', { reporter }),
  };
}
