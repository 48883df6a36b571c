import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTcpMetrics } from './tcp-metrics.ts';
import type { ConnectionLabelsInput } from './traffic-labels.ts';

const input: ConnectionLabelsInput = {
  reporter: 'source',
  source: undefined,
  sourcePrincipal: 'spiffe://cluster.local/ns/a/sa/x',
  destination: undefined,
  service: undefined,
  mtls: true,
};

async function value(metrics: ReturnType<typeof createTcpMetrics>, name: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).reduce((n, v) => n + Number(v.value), 0);
}

test('byte counters read the followed counts at each scrape and at close, once each', async () => {
  const metrics = createTcpMetrics(undefined, { defaultMetrics: false });
  const sent = { bytes: 0 };
  const received = { bytes: 0 };
  const c = metrics.open(input);
  c.follow(sent, received);
  sent.bytes = 100;
  received.bytes = 7;
  assert.equal(await value(metrics, 'istio_tcp_sent_bytes_total'), 100, 'a long-lived connection shows its bytes while open');
  assert.equal(await value(metrics, 'istio_tcp_received_bytes_total'), 7);
  sent.bytes = 150;
  c.close();
  c.close();
  sent.bytes = 999;
  assert.equal(await value(metrics, 'istio_tcp_sent_bytes_total'), 150, 'closing adds the rest once; later counts are ignored');
  assert.equal(await value(metrics, 'istio_tcp_connections_opened_total'), 1);
  assert.equal(await value(metrics, 'istio_tcp_connections_closed_total'), 1);
  assert.equal(metrics.openConnections(), 0);
});

test('connections with the same labels share one label set; a close with flags keeps the open labels', async () => {
  const metrics = createTcpMetrics(undefined, { defaultMetrics: false });
  const a = metrics.open(input) as unknown as { labels: object };
  const b = metrics.open(input) as unknown as { labels: object };
  const other = metrics.open({ ...input, mtls: false }) as unknown as { labels: object };
  assert.equal(a.labels, b.labels);
  assert.notEqual(a.labels, other.labels);
  (b as unknown as { close(flags?: string): void }).close('CONNECT');
  const closed = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'istio_tcp_connections_closed_total');
  assert.deepEqual(
    closed?.values.map((v) => v.labels['response_flags']),
    ['CONNECT'],
  );
  assert.equal((a.labels as Record<string, string>)['response_flags'], '-', 'the shared set is not changed by a close');
});
