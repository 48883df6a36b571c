import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger, systemClock } from '@ambit/core';
import { Registry } from 'prom-client';
import { meshService, meshWorkload } from '../../testing/mesh-fixtures.ts';
import type { RequestRecord } from '../proxy/proxy-inputs.ts';
import { createWaypointTelemetry } from './telemetry.ts';
import { ISTIO_BUCKETS } from './request-metrics.ts';

// Istio's label set of the waypoint's HTTP metrics (istio.io "Istio Standard Metrics"; Envoy stats plugin), exactly.
const ISTIO_REQUEST_LABELS = [
  'connection_security_policy',
  'destination_app',
  'destination_canonical_revision',
  'destination_canonical_service',
  'destination_cluster',
  'destination_principal',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_version',
  'destination_workload',
  'destination_workload_namespace',
  'grpc_response_status',
  'reporter',
  'request_protocol',
  'response_code',
  'response_flags',
  'source_app',
  'source_canonical_revision',
  'source_canonical_service',
  'source_cluster',
  'source_principal',
  'source_version',
  'source_workload',
  'source_workload_namespace',
];

const api = meshService('demo', 'api', '10.96.0.10', [{ port: 80, targetPort: 8080 }]);
const client = meshWorkload('demo', 'client-x1', '10.244.1.4');
const server = meshWorkload('demo', 'api-v1', '10.244.2.9', [{ service: api }]);

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  protocol: 'http',
  httpVersion: 'HTTP/1.1',
  method: 'GET',
  path: '/items/42?x=1',
  authority: 'api.demo:80',
  requestId: 'req-1',
  userAgent: 'curl/8.0',
  sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/client',
  source: client,
  sourceAddr: '10.244.1.4:40000',
  service: api,
  destination: server,
  upstreamHost: '10.244.2.9:8080',
  route: 'demo/canary.0',
  responseCode: 200,
  grpcStatus: undefined,
  responseFlags: '-',
  requestBytes: 120,
  responseBytes: 2048,
  durationMs: 3.4,
  attempts: 1,
  traceparent: undefined,
  error: undefined,
  ...over,
});

async function withTelemetry(
  fn: (
    t: ReturnType<typeof createWaypointTelemetry>,
    registry: Registry,
    lines: () => Promise<Array<Record<string, unknown>>>,
  ) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-wp-telemetry-'));
  try {
    const file = join(dir, 'access.log');
    const access = createLogger('access', { destination: file });
    const registry = new Registry();
    const t = createWaypointTelemetry({
      registry,
      access,
      version: '0.1.0',
      clock: { ...systemClock, now: () => Date.UTC(2030, 0, 1) },
    });
    const lines = async (): Promise<Array<Record<string, unknown>>> =>
      (await readFile(file, 'utf8'))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await fn(t, registry, lines);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("request metrics carry exactly Istio's names and labels, reporter=waypoint, and Istio's buckets", async () => {
  await withTelemetry(async (t, registry) => {
    t.request(record());
    t.request(record({ responseCode: 503, responseFlags: 'URX', attempts: 3 }));
    t.request(record({ protocol: 'grpc', httpVersion: 'HTTP/2', grpcStatus: 0 }));
    const json = await registry.getMetricsAsJSON();
    const byName = new Map(json.map((m) => [m.name, m]));
    for (const name of ['istio_requests_total', 'istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      const m = byName.get(name);
      assert.ok(m !== undefined, name);
      for (const v of m.values) {
        if ((v as { metricName?: string }).metricName?.endsWith('_bucket') === true) continue;
        assert.deepEqual(Object.keys(v.labels).sort(), ISTIO_REQUEST_LABELS, name);
      }
    }
    const total = byName.get('istio_requests_total');
    const series = total?.values.map((v) => v.labels) ?? [];
    assert.equal(series.length, 3);
    const ok = series.find((l) => l['response_code'] === '200' && l['request_protocol'] === 'http');
    assert.deepEqual(
      { ...ok },
      {
        reporter: 'waypoint',
        source_workload: 'client',
        source_canonical_service: 'client',
        source_canonical_revision: 'v1',
        source_workload_namespace: 'demo',
        source_principal: 'spiffe://cluster.local/ns/demo/sa/client',
        source_app: 'client',
        source_version: 'v1',
        source_cluster: 'Kubernetes',
        destination_service: 'api.demo.svc.cluster.local',
        destination_service_namespace: 'demo',
        destination_service_name: 'api',
        destination_workload: 'api',
        destination_canonical_service: 'api',
        destination_canonical_revision: 'v1',
        destination_workload_namespace: 'demo',
        destination_principal: 'spiffe://cluster.local/ns/demo/sa/api',
        destination_app: 'api',
        destination_version: 'v1',
        destination_cluster: 'Kubernetes',
        request_protocol: 'http',
        response_flags: '-',
        connection_security_policy: 'mutual_tls',
        response_code: '200',
        grpc_response_status: '-',
      },
    );
    assert.ok(series.some((l) => l['response_code'] === '503' && l['response_flags'] === 'URX'));
    assert.ok(series.some((l) => l['request_protocol'] === 'grpc' && l['grpc_response_status'] === '0'));
    const text = await registry.metrics();
    // prom-client writes `le` first; each series repeats the same buckets.
    const les = new Set([...text.matchAll(/^istio_request_duration_milliseconds_bucket\{le="([^"]+)"/gm)].map((m) => m[1]));
    assert.deepEqual([...les], [...ISTIO_BUCKETS.map(String), '+Inf']);
    assert.match(text, /^istio_build\{component="proxy",tag="0\.1\.0"\} 1$/m);
    // Bounded cardinality: no path, address or request id reaches a label.
    assert.doesNotMatch(text, /items|10\.244|req-1|8080/);
  });
});

test('a request with nothing known is labelled unknown, never empty', async () => {
  await withTelemetry(async (t, registry) => {
    t.request(
      record({ source: undefined, destination: undefined, service: undefined, sourcePrincipal: '', responseCode: 0, responseFlags: 'DC' }),
    );
    const total = (await registry.getMetricsAsJSON()).find((m) => m.name === 'istio_requests_total');
    const labels = total?.values[0]?.labels ?? {};
    assert.equal(labels['source_workload'], 'unknown');
    assert.equal(labels['source_principal'], 'unknown');
    assert.equal(labels['destination_service'], 'unknown');
    assert.equal(labels['response_code'], '0');
    assert.ok(Object.values(labels).every((v) => v !== ''));
  });
});

test('one access line per request with Envoy/Istio field names', async () => {
  await withTelemetry(async (t, _registry, lines) => {
    t.request(record({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }));
    t.request(record({ responseCode: 504, responseFlags: 'UT', error: 'upstream request timeout after 500 ms' }));
    const [ok, failed] = await lines();
    assert.deepEqual(
      { ...ok, time: undefined, pid: undefined, hostname: undefined },
      {
        level: 30,
        name: 'access',
        msg: 'request complete',
        start_time: new Date(Date.UTC(2030, 0, 1) - 3.4).toISOString(),
        method: 'GET',
        path: '/items/42?x=1',
        protocol: 'HTTP/1.1',
        response_code: 200,
        response_flags: '-',
        bytes_received: 120,
        bytes_sent: 2048,
        duration: 3,
        upstream_host: '10.244.2.9:8080',
        upstream_cluster: 'inbound-vip|80|http|api.demo.svc.cluster.local',
        route_name: 'demo/canary.0',
        x_forwarded_for: '10.244.1.4',
        user_agent: 'curl/8.0',
        request_id: 'req-1',
        authority: 'api.demo:80',
        downstream_remote_address: '10.244.1.4:40000',
        downstream_peer_uri_san: 'spiffe://cluster.local/ns/demo/sa/client',
        upstream_peer: 'spiffe://cluster.local/ns/demo/sa/api',
        attempts: 1,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        time: undefined,
        pid: undefined,
        hostname: undefined,
      },
    );
    assert.equal(failed?.['level'], 50);
    assert.equal(failed?.['error'], 'upstream request timeout after 500 ms');
    assert.equal(failed?.['response_flags'], 'UT');
  });
});

test('the access line carries the L7 authorization decision and a dry-run result', async () => {
  await withTelemetry(async (t, _registry, lines) => {
    t.request(record({ responseCode: 403, authz: { allow: false, policy: 'demo/deny-post', rule: 1 } }));
    t.request(record({ authz: { allow: true, dryRun: { allow: false, policy: 'demo/would-deny' } } }));
    t.request(record({}));
    const [denied, dry, none] = await lines();
    assert.equal(denied?.['response_code'], 403);
    assert.equal(denied?.['authz'], 'deny');
    assert.equal(denied?.['authz_policy'], 'demo/deny-post');
    assert.equal(denied?.['authz_rule'], 1);
    assert.equal(dry?.['authz'], 'allow');
    assert.equal(dry?.['authz_policy'], undefined);
    assert.equal(dry?.['authz_dry_run'], 'deny');
    assert.equal(dry?.['authz_dry_run_policy'], 'demo/would-deny');
    assert.equal(none?.['authz'], undefined);
  });
});

test('TCP passthrough: istio_tcp_* with reporter=waypoint following live counts, and one access line at close', async () => {
  await withTelemetry(async (t, registry, lines) => {
    let sent = 0;
    let received = 0;
    const tracker = t.tcpOpen(
      { sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/client', source: client, service: api, destination: server },
      { sent: () => sent, received: () => received },
    );
    sent = 10;
    received = 4;
    const value = async (name: string): Promise<number> =>
      ((await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? []).reduce((n, v) => n + Number(v.value), 0);
    assert.equal(await value('istio_tcp_connections_opened_total'), 1);
    assert.equal(await value('istio_tcp_sent_bytes_total'), 10, 'counts show while the connection is open');
    sent = 25;
    const rec = {
      sourcePrincipal: 'spiffe://cluster.local/ns/demo/sa/client',
      source: client,
      sourceAddr: '10.244.1.4:40001',
      service: api,
      destination: server,
      upstreamHost: '10.244.2.9:5432',
      bytesSent: 25,
      bytesReceived: 4,
      durationMs: 1000,
      responseFlags: '-',
      error: undefined,
    } as const;
    tracker.close(rec);
    tracker.close(rec);
    assert.equal(await value('istio_tcp_connections_closed_total'), 1);
    assert.equal(await value('istio_tcp_sent_bytes_total'), 25);
    assert.equal(await value('istio_tcp_received_bytes_total'), 4);
    const opened = (await registry.getMetricsAsJSON()).find((m) => m.name === 'istio_tcp_connections_opened_total');
    assert.equal(opened?.values[0]?.labels['reporter'], 'waypoint');
    assert.equal(opened?.values[0]?.labels['request_protocol'], 'tcp');
    const all = await lines();
    assert.equal(all.length, 1);
    assert.equal(all[0]?.['msg'], 'connection complete');
    assert.equal(all[0]?.['bytes_sent'], 25);
    assert.equal(all[0]?.['downstream_peer_uri_san'], 'spiffe://cluster.local/ns/demo/sa/client');
  });
});
