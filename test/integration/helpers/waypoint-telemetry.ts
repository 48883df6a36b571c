import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { parse as parseYaml } from 'yaml';
import { REPO, type RunResult } from './ambitctl.ts';
import { declaredFamilies, startPrometheus } from './prometheus.ts';
import type { ClusterDriver, WaypointPod } from './waypoint.ts';

export interface TelemetryContext {
  readonly driver: ClusterDriver;
  readonly ns: string;
  readonly waypoint: WaypointPod;
  readonly work: string;
  readonly curl: (args: readonly string[]) => Promise<RunResult>;
}

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; query?: string | { query: string } }> };
}

/** A dashboard expression with Grafana's variables replaced by what a user sees with "All" selected. */
function concrete(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replace(/\$\{?[a-z_]+\}?/g, '.*');
}

/** Metric names an expression reads. */
function metricNames(expr: string): string[] {
  return expr.match(/\b(?:istio|ambit|process|nodejs)_[a-z_]+/g) ?? [];
}

/**
 * A real Prometheus (Debian's) in node1's network namespace scrapes the waypoint pod's 15020, as the PodMonitor in
 * deploy/ tells a Prometheus Operator to: exact request counts by response code and destination service, then every
 * query of the waypoint dashboard evaluated against it.
 */
export async function telemetryChecks(t: TestContext, c: TelemetryContext): Promise<void> {
  const { driver: k, ns, waypoint } = c;
  const { path, text } = await k.waypointMetrics(ns, waypoint.name);
  const prometheus = await startPrometheus(`${k.paths.prefix}node1`, c.work, [
    { name: 'waypoint', path, targets: [`${waypoint.ip}:15020`] },
  ]);
  try {
    await eventually(async () => assert.equal(await prometheus.query('sum(up{job="waypoint"})'), 1), 15_000);
    // Response codes no other check uses, to a Service no route sends anything else to: the counts are exact.
    const urls = [
      ...Array<string>(7).fill('http://svc-v1/counted?status=203'),
      ...Array<string>(3).fill('http://svc-v1/counted?status=418'),
    ];
    const r = await c.curl(['-w', '%{http_code}\n', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
    assert.equal(r.stdout.trim().split('\n').join(','), '203,203,203,203,203,203,203,418,418,418', r.stderr);
    const dest = `destination_service="svc-v1.${ns}.svc.cluster.local"`;
    await eventually(async () => {
      assert.equal(await prometheus.query(`sum(istio_requests_total{reporter="waypoint",${dest},response_code="203"})`), 7);
      assert.equal(await prometheus.query(`sum(istio_requests_total{reporter="waypoint",${dest},response_code="418"})`), 3);
      assert.equal(
        await prometheus.query(`sum(istio_request_duration_milliseconds_count{reporter="waypoint",${dest},response_code="418"})`),
        3,
      );
    }, 15_000);
    const series = await prometheus.raw(`istio_requests_total{reporter="waypoint",${dest},response_code="203"}`);
    const labels = series.data?.result[0]?.metric ?? {};
    t.diagnostic(`a waypoint request series: ${JSON.stringify(labels)}`);
    assert.equal(labels['source_workload'], 'client');
    assert.equal(labels['source_principal'], `spiffe://cluster.local/ns/${ns}/sa/client`);
    assert.equal(labels['destination_workload'], 'svc-v1');
    assert.equal(labels['request_protocol'], 'http');
    assert.equal(labels['response_flags'], '-');

    // The dashboard: only metrics this live waypoint exports, and every query valid PromQL that Prometheus evaluates.
    const exported = declaredFamilies(text);
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy', 'grafana', 'waypoint-dashboard.json'), 'utf8')) as Dashboard;
    assert.ok(dashboard.panels.length >= 6);
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((x) => ({ title: p.title, expr: x.expr }))),
      ...dashboard.templating.list
        .map((v) => (typeof v.query === 'string' ? v.query : v.query?.query))
        .filter((q): q is string => q !== undefined && q.startsWith('label_values('))
        .map((q) => ({ title: 'variable', expr: q.replace(/^label_values\((.*),\s*[a-z_]+\)$/, '$1') })),
    ];
    for (const { title, expr } of exprs) {
      for (const name of metricNames(expr)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        assert.ok(
          exported.has(name) || exported.has(base) || exported.has(base.replace(/_total$/, '')),
          `panel "${title}" uses ${name}, which the waypoint does not export`,
        );
      }
      const answer = await prometheus.raw(concrete(expr));
      assert.equal(answer.status, 'success', `panel "${title}": ${concrete(expr)}: ${answer.error ?? ''}`);
    }
    // With the requests above inside the rate window, the request-rate and latency panels show data.
    for (const title of ['Requests /s by service and response code', 'p99 latency by service']) {
      const panel = dashboard.panels.find((p) => p.title === title);
      assert.ok(panel, `the dashboard has "${title}"`);
      await eventually(async () => {
        const answer = await prometheus.raw(concrete(panel.targets[0]?.expr ?? ''));
        assert.ok((answer.data?.result.length ?? 0) > 0, `"${title}" shows data`);
      }, 10_000);
    }

    // The PodMonitor selects waypoint pods and names the port the controller's Deployment gives 15020.
    const monitor = parseYaml(readFileSync(join(REPO, 'deploy', 'monitoring', 'waypoint-podmonitor.yaml'), 'utf8')) as {
      kind: string;
      spec: {
        selector: { matchExpressions: Array<{ key: string; operator: string }> };
        namespaceSelector: { any?: boolean };
        podMetricsEndpoints: Array<{ port: string; path: string }>;
      };
    };
    assert.equal(monitor.kind, 'PodMonitor');
    assert.deepEqual(monitor.spec.selector.matchExpressions, [{ key: 'gateway.networking.k8s.io/gateway-name', operator: 'Exists' }]);
    assert.equal(monitor.spec.namespaceSelector.any, true);
    const endpoint = monitor.spec.podMetricsEndpoints[0];
    assert.equal(endpoint?.path, path, 'the PodMonitor scrapes the path the waypoint serves');
    const deployment = await k.kubectlJson<{
      spec: { template: { spec: { containers: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> } } };
    }>(['get', 'deployment', 'waypoint', '-n', ns]);
    const port = deployment.spec.template.spec.containers.flatMap((x) => x.ports ?? []).find((p) => p.name === endpoint?.port);
    assert.equal(port?.containerPort, 15020, `the waypoint Deployment names port "${endpoint?.port}" 15020`);
  } finally {
    await prometheus.stop();
  }
}
