// The L4 benchmark (issue 7; method: ../shared/reference/performance.md). One 2-node local cluster, client pods on
// node1 and server pods on node2, three modes measured side by side in one run, interleaved round by round:
//   direct   plain/client → plain/server                  (no mesh: bridge and routing only)
//   ambit    mesh/client → mesh/server                    (captured both ends; HBONE mTLS between the two ztunnels)
//   haproxy  plain/client → HAProxy → mTLS → HAProxy → plain/server  (what a user could build instead)
// Figures: added latency at fixed rates (h2load), iperf3 throughput, CPU and RSS per proxy, RSS per idle connection,
// new connections per second. Writes bench/results/<date>-l4.{json,md,svg}. Needs root; nothing leaves the cluster's
// namespaces (every client and server runs inside a pod's network namespace).
//   BENCH_L4_ROUNDS (3), BENCH_L4_SECONDS (30), BENCH_L4_WARMUP (3), BENCH_L4_IPERF_SECONDS (10), BENCH_L4_IDLE (10000)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterPaths } from '@ambit/local';
import { componentPid } from '../test/integration/helpers/mesh-components.ts';
import { ambitctl, removeDir } from '../test/integration/helpers/ambitctl.ts';
import { startL4Cluster } from './l4/cluster.ts';
import { connectionRate, h2loadFixedRate, holdIdleConnections, iperf3 } from './l4/load.ts';
import type { NetnsProcess } from './l4/netns-process.ts';
import { privateRssBytes, rssBytes, sampleProcesses } from './l4/proc-sampler.ts';
import { markdown } from './l4/report.ts';
import { entryFor, MODES, type L4Results, type Mode } from './l4/results.ts';
import { BODY_BYTES, HAPROXY_MAXCONN, PORTS, startHaproxyPair, startServers } from './l4/servers.ts';
import { svgChart } from './l4/svg-chart.ts';
import { benchEnvironment } from './l4/environment.ts';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const CLUSTER = 'bench-l4';
const ROUNDS = env('BENCH_L4_ROUNDS', 3);
const SECONDS = env('BENCH_L4_SECONDS', 30);
const WARMUP = env('BENCH_L4_WARMUP', 3);
const IPERF_SECONDS = env('BENCH_L4_IPERF_SECONDS', 10);
const IDLE = env('BENCH_L4_IDLE', 10_000);
const RATES = [500, 1000, 2000];
const CONNECTIONS = [4, 16];
const CONN_RATE_SECONDS = 5;
const CONN_RATE_CONCURRENCY = 8;
const APPS = join(import.meta.dirname, 'apps');
const RESULTS = join(import.meta.dirname, 'results');

const progress = (msg: string): void => void process.stderr.write(`l4: ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (process.getuid?.() !== 0) {
  console.log('l4: skipped (needs root to create network namespaces)');
  process.exit(0);
}
for (const tool of ['h2load', 'iperf3', 'haproxy', 'nginx', 'openssl']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.log(`l4: skipped (${tool} is missing; scripts/ensure-deps.sh --bench installs it)`);
    process.exit(0);
  }
}

const work = mkdtempSync(join(tmpdir(), 'ambit-bench-l4-'));
const started: NetnsProcess[] = [];
let failed = true;
try {
  progress('starting the cluster');
  const { net, meshIp, plainIp } = await startL4Cluster(CLUSTER);
  progress('starting nginx, iperf3, the echo server and the HAProxy pair');
  started.push(...(await startServers(net.meshServer, work, 'mesh', join(APPS, 'conn-server.mjs'))));
  started.push(...(await startServers(net.plainServer, work, 'plain', join(APPS, 'conn-server.mjs'))));
  const haproxy = await startHaproxyPair(net.plainClient, net.plainServer, plainIp, work);
  started.push(haproxy.client, haproxy.server);

  // The ztunnel DaemonSet's process on each node (its pod runs in the node's network namespace).
  const ztunnelPid = (node: string): number => componentPid(clusterPaths(CLUSTER), 'ztunnel', node);
  const ztunnels = { 'ztunnel node1': ztunnelPid('node1'), 'ztunnel node2': ztunnelPid('node2') };
  const targets: Record<Mode, { netns: string; host: string; proxies: Record<string, number> }> = {
    direct: { netns: net.plainClient, host: plainIp, proxies: {} },
    ambit: { netns: net.meshClient, host: meshIp, proxies: ztunnels },
    haproxy: {
      netns: net.plainClient,
      host: '127.0.0.1',
      proxies: { 'haproxy client': haproxy.client.pid, 'haproxy server': haproxy.server.pid },
    },
  };
  const body = join(work, 'body-1k');
  writeFileSync(body, Buffer.alloc(BODY_BYTES, 'y'));
  const url = (m: Mode): string => `http://${targets[m].host}:${PORTS.http}/`;
  const h2 = (m: Mode, rps: number, conns: number, seconds: number, warmupSeconds: number) =>
    h2loadFixedRate(targets[m].netns, url(m), { rps, conns, seconds, warmupSeconds, bodyFile: body, logFile: join(work, 'h2load.log') });

  const results: L4Results = {
    date: new Date().toISOString().slice(0, 10),
    environment: benchEnvironment(),
    config: {
      rounds: ROUNDS,
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      rates: RATES,
      connections: CONNECTIONS,
      iperfSeconds: IPERF_SECONDS,
      idleConnections: IDLE,
      connRateSeconds: CONN_RATE_SECONDS,
      connRateConcurrency: CONN_RATE_CONCURRENCY,
    },
    latency: [],
    usage: [],
    throughput: [],
    connRate: [],
    idle: [],
  };

  progress('warm-up (JIT, HBONE pool, certificates)');
  for (const m of MODES) await h2(m, 1000, 16, 5, 1);

  for (let round = 1; round <= ROUNDS; round++) {
    for (const rps of RATES) {
      for (const conns of CONNECTIONS) {
        for (const m of MODES) {
          progress(`round ${round}/${ROUNDS}: ${m} at ${rps} rps over ${conns} connections`);
          let sampler: ReturnType<typeof sampleProcesses> | undefined;
          const startSampling = setTimeout(() => (sampler = sampleProcesses(targets[m].proxies)), WARMUP * 1000);
          const run = await h2(m, rps, conns, SECONDS, WARMUP);
          clearTimeout(startSampling);
          const usage = sampler?.stop() ?? {};
          const same = (x: { rps: number; conns: number; mode: Mode }): boolean => x.rps === rps && x.conns === conns && x.mode === m;
          entryFor(results.latency, same, () => ({ rps, conns, mode: m, runs: [] })).runs.push(run);
          entryFor(results.usage, same, () => ({ rps, conns, mode: m, runs: [] })).runs.push(usage);
          if (run.void) progress(`  void: ${run.achievedRps.toFixed(1)} of ${rps} rps, ${run.failed} failed`);
        }
      }
    }
    for (const streams of [1, 4]) {
      for (const m of MODES) {
        progress(`round ${round}/${ROUNDS}: ${m} iperf3 with ${streams} stream(s)`);
        const gbps = await iperf3(targets[m].netns, targets[m].host, PORTS.iperf, streams, IPERF_SECONDS);
        entryFor(
          results.throughput,
          (x) => x.streams === streams && x.mode === m,
          () => ({ streams, mode: m, gbps: [] }),
        ).gbps.push(gbps);
      }
    }
    for (const m of MODES) {
      progress(`round ${round}/${ROUNDS}: ${m} new connections per second`);
      const c = await connectionRate(
        targets[m].netns,
        join(APPS, 'conn-client.mjs'),
        targets[m].host,
        PORTS.conn,
        CONN_RATE_SECONDS,
        CONN_RATE_CONCURRENCY,
      );
      entryFor(
        results.connRate,
        (x) => x.mode === m,
        () => ({ mode: m, runs: [] }),
      ).runs.push(c);
      // Let the closed connections' TIME_WAIT and the proxies' buffers settle before the next mode.
      await sleep(2000);
    }
  }

  for (const m of ['ambit', 'haproxy'] as const) {
    // HAProxy holds two descriptors per connection: where the hard limit is low it gets fewer (bytes are per connection).
    const count = m === 'haproxy' ? Math.min(IDLE, HAPROXY_MAXCONN - 100) : IDLE;
    progress(`${m}: RSS with ${count} idle connections`);
    const pids = targets[m].proxies;
    await sleep(3000);
    const before = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, { rss: rssBytes(pid), anon: privateRssBytes(pid) }]));
    const held = await holdIdleConnections(targets[m].netns, join(APPS, 'conn-client.mjs'), targets[m].host, PORTS.conn, count);
    await sleep(3000);
    const withIdle = Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, { rss: rssBytes(pid), anon: privateRssBytes(pid) }]));
    await held.close();
    results.idle.push({
      mode: m,
      connections: count,
      proxies: Object.fromEntries(
        Object.keys(pids).map((n) => [
          n,
          {
            before: before[n]?.rss ?? NaN,
            with: withIdle[n]?.rss ?? NaN,
            privateBefore: before[n]?.anon ?? NaN,
            privateWith: withIdle[n]?.anon ?? NaN,
          },
        ]),
      ),
    });
    await sleep(3000);
  }
  for (const [n, pid] of Object.entries(ztunnels)) {
    if (ztunnelPid(n.replace('ztunnel ', '')) !== pid) throw new Error(`${n} restarted during the run: its figures are not one process's`);
  }

  mkdirSync(RESULTS, { recursive: true });
  const base = join(RESULTS, `${results.date}-l4`);
  const md = markdown(results);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.svg`, svgChart(results));
  console.log(md);
  console.log(`written: ${base}.json, .md, .svg`);
  failed = false;
} finally {
  for (const p of started.reverse()) await p.stop();
  await ambitctl(CLUSTER, ['local', 'down']);
  // The servers' configs and logs are kept when something went wrong.
  if (failed) progress(`failed; configs and logs are in ${work}`);
  else removeDir(work);
}
