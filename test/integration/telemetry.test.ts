import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { parse as parseYaml } from 'yaml';
import { clusterPaths } from '@ambit/local';
import { ambitctl, ambitctlOk, downAndCheckClean, podNetns, pods, REPO, run } from './helpers/ambitctl.ts';
import { startPrometheus, type Prometheus } from './helpers/prometheus.ts';

// Issue 6 acceptance: a real Prometheus (Debian's) inside the sealed cluster scrapes every node's ztunnel on 15020;
// known traffic between demo pods must show up, through Prometheus' query API, as connection and byte counts per
// source and destination workload for both reporters, and a denied connection as a DENY count.
const CLUSTER = 'it-telemetry';
const paths = clusterPaths(CLUSTER);
const WORLD = `${paths.prefix}world`;
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/curl', '/usr/bin/prometheus'] };
/** How long the long-lived connection stays open; the 10 minutes with AMBIT_LONG_CONNECTION_SECONDS=600. */
const LONG_SECONDS = Number(process.env['AMBIT_LONG_CONNECTION_SECONDS'] ?? 8);

let work = '';
let prometheus: Prometheus | undefined;
let ready = false;
let echoIp = '';
let echoPod = '';

async function query(promql: string): Promise<number> {
  assert.ok(prometheus, 'Prometheus is not running');
  return prometheus.query(promql);
}

function nc(input: string, port = 9000) {
  return ambitctl(CLUSTER, ['local', 'exec', '-n', 'demo', 'client', '--', 'nc', '-N', '-w', '3', echoIp, String(port)], { input });
}

describe('telemetry: Prometheus scrapes the ztunnels of a local cluster', { concurrency: false }, () => {
  before(async () => {
    if (process.getuid?.() !== 0) return;
    work = mkdtempSync(join(tmpdir(), 'ambit-telemetry-'));
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', join(REPO, 'examples', 'demo'), '--nodes', '2'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    const echo = (await pods(CLUSTER, 'demo')).find((p) => p.name.startsWith('tcp-echo-'));
    assert.ok(echo);
    echoIp = echo.ip;
    echoPod = echo.name;
    const nodes = JSON.parse(await ambitctlOk(CLUSTER, ['local', 'get', 'nodes', '-o', 'json'])) as { items: Array<{ ip: string }> };
    // In the world namespace: it reaches the nodes over the underlay and listens on its own loopback only.
    prometheus = await startPrometheus(WORLD, work, [
      { name: 'ztunnel', path: '/stats/prometheus', targets: nodes.items.map((n) => `${n.ip}:15020`) },
    ]);
    await eventually(async () => assert.equal(await query('sum(up{job="ztunnel"})'), nodes.items.length), 15_000);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await prometheus?.stop();
    await downAndCheckClean(CLUSTER, work);
  });

  test('connections and bytes by source and destination workload, both reporters', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const greeting = `hello from ${echoPod}\n`;
    for (let i = 0; i < 5; i++) {
      const r = await nc('ping\n');
      assert.equal(r.stdout, `${greeting}ping\n`);
    }
    const sel = (reporter: string): string =>
      `reporter="${reporter}",source_workload="client",destination_workload="tcp-echo",response_flags="-"`;
    await eventually(async () => {
      assert.equal(await query(`sum(istio_tcp_connections_opened_total{${sel('destination')}})`), 5);
      assert.equal(await query(`sum(istio_tcp_connections_closed_total{${sel('destination')}})`), 5);
      assert.equal(await query(`sum(istio_tcp_connections_opened_total{${sel('source')}})`), 5);
      assert.equal(
        await query(`sum(istio_tcp_received_bytes_total{${sel('destination')}})`),
        5 * 5,
        'the server side received 5 × "ping\\n"',
      );
      assert.equal(await query(`sum(istio_tcp_sent_bytes_total{${sel('destination')}})`), 5 * (greeting.length + 5));
      assert.equal(await query(`sum(istio_tcp_sent_bytes_total{${sel('source')}})`), 5 * 5);
      assert.equal(await query(`sum(istio_tcp_received_bytes_total{${sel('source')}})`), 5 * (greeting.length + 5));
    }, 15_000);
    const labels = await run([
      'ip',
      'netns',
      'exec',
      WORLD,
      'curl',
      '-s',
      '--data-urlencode',
      `match[]=istio_tcp_connections_opened_total{${sel('destination')}}`,
      'http://127.0.0.1:9090/api/v1/series',
    ]);
    const series = (JSON.parse(labels.stdout) as { data: Array<Record<string, string>> }).data[0] ?? {};
    assert.equal(series['source_principal'], 'spiffe://cluster.local/ns/demo/sa/default');
    assert.equal(series['destination_principal'], 'spiffe://cluster.local/ns/demo/sa/default');
    assert.equal(series['connection_security_policy'], 'mutual_tls');
    assert.equal(series['destination_workload_namespace'], 'demo');
    assert.equal(series['destination_canonical_service'], 'tcp-echo');
    assert.equal(series['source_cluster'], 'Kubernetes');
  });

  test(`a connection open for ${LONG_SECONDS} s shows its byte counters rising while it is open`, async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const netns = await podNetns(CLUSTER, 'demo', 'client');
    const held = spawn('ip', ['netns', 'exec', netns, 'nc', echoIp, '9000'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const sel = 'reporter="destination",source_workload="client",destination_workload="tcp-echo"';
    try {
      const seen: number[] = [];
      const deadline = Date.now() + LONG_SECONDS * 1000;
      while (Date.now() < deadline) {
        held.stdin.write(`${'z'.repeat(1023)}\n`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        seen.push(await query(`sum(istio_tcp_received_bytes_total{${sel}})`));
      }
      assert.equal(held.exitCode, null, 'still open');
      t.diagnostic(`received bytes seen by Prometheus while open: ${seen.length} samples, ${seen[0]} → ${seen.at(-1)}`);
      assert.ok(seen.length >= 3);
      assert.ok(
        seen.every((v, i) => i === 0 || v >= (seen[i - 1] ?? 0)) && (seen.at(-1) ?? 0) > (seen[0] ?? 0),
        `rising: ${seen.join(', ')}`,
      );
    } finally {
      held.kill();
    }
  });

  test('a denied connection is counted with response_flags="DENY"', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(work, 'deny.yaml');
    writeFileSync(
      file,
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: no-client, namespace: demo }\nspec:\n  selector: { matchLabels: { app: tcp-echo } }\n  action: DENY\n  rules:\n    - from:\n        - source: { principals: ["cluster.local/ns/demo/sa/default"] }\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
    await eventually(async () => assert.equal((await nc('denied?\n')).stdout, ''), 10_000);
    await eventually(async () => {
      assert.ok(
        (await query(
          'sum(istio_tcp_connections_closed_total{reporter="destination",response_flags="DENY",source_workload="client",destination_workload="tcp-echo"})',
        )) >= 1,
      );
      assert.ok(
        (await query(
          'sum(istio_tcp_connections_closed_total{reporter="source",response_flags="DENY",source_workload="client",destination_workload="tcp-echo"})',
        )) >= 1,
      );
    }, 15_000);
    await ambitctlOk(CLUSTER, ['local', 'delete', '-f', file]);
  });

  test('deploy/: the dashboard queries only metrics ztunnel exports; the monitoring manifests parse', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const text = await ambitctlOk(CLUSTER, ['local', 'node-exec', 'node1', '--', 'curl', '-s', '127.0.0.1:15020/metrics']);
    const exported = new Set(
      text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE '))
        .map((l) => l.split(' ')[2]),
    );
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy', 'grafana', 'ztunnel-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    assert.ok(dashboard.panels.length >= 8);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        for (const name of target.expr.match(/\b(?:istio|ambit|process)_[a-z_]+/g) ?? []) {
          const base = name.replace(/_(bucket|sum|count)$/, '');
          assert.ok(
            exported.has(base) || exported.has(base.replace(/_total$/, '')),
            `panel "${panel.title}" uses ${name}, which ztunnel does not export`,
          );
        }
      }
    }
    const monitor = parseYaml(readFileSync(join(REPO, 'deploy', 'monitoring', 'ztunnel-podmonitor.yaml'), 'utf8')) as {
      kind: string;
      spec: { podMetricsEndpoints: Array<{ port: string; path: string }> };
    };
    assert.equal(monitor.kind, 'PodMonitor');
    const ds = parseYaml(readFileSync(join(REPO, 'deploy', 'ztunnel', 'daemonset.yaml'), 'utf8')) as {
      spec: {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> };
        };
      };
    };
    const port = ds.spec.template.spec.containers[0]?.ports.find((p) => p.name === monitor.spec.podMetricsEndpoints[0]?.port);
    assert.equal(port?.containerPort, 15020, 'the PodMonitor port names the metrics port');
    assert.equal(ds.spec.template.metadata.annotations['prometheus.io/port'], '15020');
    assert.equal(ds.spec.template.metadata.annotations['prometheus.io/path'], monitor.spec.podMetricsEndpoints[0]?.path);
  });

  test('ambitctl ztunnel-config prints the demo’s workloads and certificates', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const workloads = await ambitctlOk(CLUSTER, ['ztunnel-config', 'workloads', '--node', 'node1']);
    assert.match(workloads, /^ZTUNNEL\s+NAMESPACE\s+NAME\s+ADDRESS\s+NODE\s+PROTOCOL\s+STATUS/);
    for (const name of ['client', echoPod, 'web-'])
      assert.match(workloads, new RegExp(`node1\\s+demo\\s+${name}\\S*\\s+10\\.244\\.\\d+\\.\\d+\\s+node\\d\\s+HBONE\\s+HEALTHY`));
    const certs = await ambitctlOk(CLUSTER, ['ztunnel-config', 'certificates']);
    assert.match(certs, /node\d\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web\s+Available\s+\d{4}-/);
    assert.match(certs, /node\d\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/api\s+Available/);
    const json = JSON.parse(await ambitctlOk(CLUSTER, ['ztunnel-config', 'services', '-o', 'json'])) as Record<
      string,
      Array<{ hostname: string }>
    >;
    assert.ok(json['node2']?.some((s) => s.hostname === 'api.demo.svc.cluster.local'));
  });
});
