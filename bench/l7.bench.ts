// The L7 benchmark (issue 13; method: ../shared/reference/performance.md). The L4 benchmark's cluster layout — a
// 2-node local cluster, clients on node1, servers on node2 — with three modes measured side by side in one run,
// interleaved round by round (bench/l7/results.ts draws them):
//   l4        mesh/client → mesh/server VIP                       (ztunnel to ztunnel: the baseline)
//   waypoint  l7/client → l7/server VIP through the namespace's waypoint (Ambit's L7 hop)
//   nginx     mesh/client → nginx in a mesh pod → mesh/server VIP  (the same L7 hop done by nginx)
// HTTP/1.1 and h2c, 1 KiB each way, at 500/1000/2000 rps and at the maximum rate (h2load). Figures: latency added
// over l4 (p50/p99), vCPU and RSS per 1000 rps of every proxy, maximum requests/s; median of the rounds with min–max.
// Writes bench/results/<date>-l7.{json,md,svg}. Needs root; nothing leaves the cluster's namespaces. When no
// waypoint becomes ready (the waypoint is not built yet), the run goes on with l4 and nginx and says so.
//   BENCH_L7_ROUNDS (3), BENCH_L7_SECONDS (30), BENCH_L7_WARMUP (3), BENCH_L7_CONNS (4), BENCH_L7_WAYPOINT_WAIT (60 s)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterPaths } from '@ambit/local';
import { componentPid } from '../test/integration/helpers/mesh-components.ts';
import { ambitctl, ambitctlOk, podNetns, pods, removeDir, run } from '../test/integration/helpers/ambitctl.ts';
import { ClusterDriver } from '../test/integration/helpers/waypoint.ts';
import { h2loadFixedRate } from './l4/load.ts';
import type { NetnsProcess } from './l4/netns-process.ts';
import { sampleProcesses } from './l4/proc-sampler.ts';
import { entryFor } from './l4/results.ts';
import { BODY_BYTES, nginxAppServers, startNginx } from './l4/servers.ts';
import { markdown, svgChart } from './l7/report.ts';
import { HOP_PROCESS, L7_MODES, PROTOCOLS, type L7Mode, type L7Results, type Protocol, type Rate } from './l7/results.ts';
import { benchEnvironment } from './l4/environment.ts';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const CLUSTER = 'bench-l7';
const ROUNDS = env('BENCH_L7_ROUNDS', 3);
const SECONDS = env('BENCH_L7_SECONDS', 30);
const WARMUP = env('BENCH_L7_WARMUP', 3);
const CONNS = env('BENCH_L7_CONNS', 4);
const WAYPOINT_WAIT_MS = env('BENCH_L7_WAYPOINT_WAIT', 60) * 1000;
const RATES = [500, 1000, 2000];
/** The app's ports on the server pods, and the nginx hop's: HTTP/1.1 and h2c (prior knowledge). */
const PORT: Record<Protocol, number> = { h1: 8080, h2c: 8081 };
const FIXTURE = join(import.meta.dirname, 'l7', 'fixture');
const RESULTS = join(import.meta.dirname, 'results');

const progress = (msg: string): void => void process.stderr.write(`l7: ${msg}\n`);

if (process.getuid?.() !== 0) {
  console.log('l7: skipped (needs root to create network namespaces)');
  process.exit(0);
}
for (const tool of ['h2load', 'nginx', 'curl']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.log(`l7: skipped (${tool} is missing; scripts/ensure-deps.sh --bench installs it)`);
    process.exit(0);
  }
}

/** One request from inside `netns` (curl, run in the namespace): true when it got 200. */
async function answers(netns: string, url: string, protocol: Protocol): Promise<boolean> {
  const args = ['ip', 'netns', 'exec', netns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3'];
  if (protocol === 'h2c') args.push('--http2-prior-knowledge');
  return (await run([...args, url])).stdout === '200';
}

/**
 * nginx as the L7 hop at the waypoint's place: HTTP/1.1 and h2c in, HTTP/1.1 out to the Service VIP with upstream
 * keep-alive (nginx's proxy speaks only HTTP/1.x upstream), so the mesh carries both legs like the waypoint's.
 */
function nginxHop(upstream: string): string {
  const location = `location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }`;
  return `  upstream app {
    server ${upstream};
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen ${PORT.h1};
    ${location}
  }
  server {
    listen ${PORT.h2c} http2;
    ${location}
  }
`;
}

const work = mkdtempSync(join(tmpdir(), 'ambit-bench-l7-'));
const started: NetnsProcess[] = [];
let failed = true;
try {
  progress('starting the cluster');
  await ambitctlOk(CLUSTER, ['local', 'up', '-f', FIXTURE, '--nodes', '2'], { timeoutMs: 120_000 });
  const k = new ClusterDriver(CLUSTER);
  const vipOf = async (ns: string): Promise<string> => {
    const svcs = JSON.parse(await ambitctlOk(CLUSTER, ['local', 'get', 'services', '-n', ns, '-o', 'json'])) as {
      items: Array<{ name: string; clusterIP: string }>;
    };
    const s = svcs.items.find((x) => x.name === 'server');
    if (s === undefined) throw new Error(`no Service ${ns}/server`);
    return s.clusterIP;
  };
  const net = {
    meshClient: await podNetns(CLUSTER, 'mesh', 'client'),
    meshServer: await podNetns(CLUSTER, 'mesh', 'server'),
    l7Client: await podNetns(CLUSTER, 'l7', 'client'),
    l7Server: await podNetns(CLUSTER, 'l7', 'server'),
  };
  const vip = { mesh: await vipOf('mesh'), l7: await vipOf('l7') };
  progress('starting the app (nginx answering 1 KiB over HTTP/1.1 and h2c) in both server pods');
  for (const [label, netns] of [
    ['mesh', net.meshServer],
    ['l7', net.l7Server],
  ] as const) {
    started.push(await startNginx(`app (${label})`, netns, join(work, `app-${label}`), nginxAppServers(PORT.h1, PORT.h2c), PORT.h1));
  }

  const unavailable: Partial<Record<L7Mode, string>> = {};
  const placement: Partial<Record<L7Mode, string>> = {};
  let waypointPid = 0;
  progress(`waiting up to ${WAYPOINT_WAIT_MS / 1000} s for the l7 namespace's waypoint`);
  const waitUntil = Date.now() + WAYPOINT_WAIT_MS;
  for (;;) {
    const ready = (await k.waypointPods('l7', 'waypoint').catch(() => [])).filter((p) => p.ready);
    const pod = ready[0];
    if (pod !== undefined && (await answers(net.l7Client, `http://${vip.l7}:${PORT.h1}/`, 'h1'))) {
      waypointPid = await k.waypointPid('l7', pod.name);
      placement.waypoint = pod.node;
      break;
    }
    if (Date.now() > waitUntil) {
      unavailable.waypoint =
        pod === undefined
          ? `no ready waypoint pod for Gateway l7/waypoint within ${WAYPOINT_WAIT_MS / 1000} s`
          : `waypoint pod ${pod.name} is ready but l7/client → server:${PORT.h1} got no 200 within ${WAYPOINT_WAIT_MS / 1000} s`;
      progress(`waypoint mode not measured: ${unavailable.waypoint}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  // The nginx hop sits on the waypoint's node (node2 when there is no waypoint: the L7 hop then shares the server's).
  const hopNode = placement.waypoint ?? 'node2';
  const proxyPod = (await pods(CLUSTER, 'mesh')).find((p) => p.name === `proxy-${hopNode}`);
  if (proxyPod === undefined) throw new Error(`no pod mesh/proxy-${hopNode}`);
  const proxyNetns = await podNetns(CLUSTER, 'mesh', proxyPod.name);
  const hop = await startNginx('nginx (L7 hop)', proxyNetns, join(work, 'nginx-hop'), nginxHop(`${vip.mesh}:${PORT.h1}`), PORT.h1);
  started.push(hop);
  placement.nginx = hopNode;

  // The ztunnel DaemonSet's process on each node (its pod runs in the node's network namespace).
  const ztunnelPid = (node: string): number => componentPid(clusterPaths(CLUSTER), 'ztunnel', node);
  const ztunnels = { 'ztunnel node1': ztunnelPid('node1'), 'ztunnel node2': ztunnelPid('node2') };
  const targets: Record<L7Mode, { netns: string; host: string; proxies: Record<string, number> }> = {
    l4: { netns: net.meshClient, host: vip.mesh, proxies: ztunnels },
    waypoint: { netns: net.l7Client, host: vip.l7, proxies: { ...ztunnels, [HOP_PROCESS]: waypointPid } },
    nginx: { netns: net.meshClient, host: proxyPod.ip, proxies: { ...ztunnels, [HOP_PROCESS]: hop.pid } },
  };
  const modes = L7_MODES.filter((m) => unavailable[m] === undefined);
  for (const m of modes) {
    for (const p of PROTOCOLS) {
      const url = `http://${targets[m].host}:${PORT[p]}/`;
      if (!(await answers(targets[m].netns, url, p))) throw new Error(`${m}: ${url} (${p}) does not answer 200 from its client pod`);
    }
  }

  const body = join(work, 'body-1k');
  writeFileSync(body, Buffer.alloc(BODY_BYTES, 'y'));
  const h2 = (m: L7Mode, p: Protocol, rps: Rate, seconds: number, warmupSeconds: number) =>
    h2loadFixedRate(targets[m].netns, `http://${targets[m].host}:${PORT[p]}/`, {
      rps,
      conns: CONNS,
      seconds,
      warmupSeconds,
      bodyFile: body,
      logFile: join(work, 'h2load.log'),
      protocol: p,
    });

  const results: L7Results = {
    date: new Date().toISOString().slice(0, 10),
    environment: benchEnvironment(),
    config: { rounds: ROUNDS, seconds: SECONDS, warmupSeconds: WARMUP, rates: RATES, connections: CONNS, bodyBytes: BODY_BYTES },
    modes,
    unavailable,
    placement,
    runs: [],
  };

  progress(`warm-up (JIT, HBONE pools, certificates); modes: ${modes.join(', ')}`);
  for (const m of modes) for (const p of PROTOCOLS) await h2(m, p, 1000, 5, 1);

  for (let round = 1; round <= ROUNDS; round++) {
    for (const p of PROTOCOLS) {
      for (const rate of [...RATES, 'max' as const]) {
        for (const m of modes) {
          progress(`round ${round}/${ROUNDS}: ${m} ${p} at ${rate === 'max' ? 'the maximum rate' : `${rate} rps`}`);
          let sampler: ReturnType<typeof sampleProcesses> | undefined;
          const startSampling = setTimeout(() => (sampler = sampleProcesses(targets[m].proxies)), WARMUP * 1000);
          const latency = await h2(m, p, rate, SECONDS, WARMUP);
          clearTimeout(startSampling);
          const usage = sampler?.stop() ?? {};
          entryFor(
            results.runs,
            (x) => x.protocol === p && x.rate === rate && x.mode === m,
            () => ({ protocol: p, rate, mode: m, runs: [] }),
          ).runs.push({ latency, usage });
          if (latency.void) progress(`  void: ${latency.achievedRps.toFixed(1)} of ${rate} rps, ${latency.failed} failed`);
          else if (rate === 'max') progress(`  ${latency.achievedRps.toFixed(0)} requests/s`);
        }
      }
    }
  }
  for (const [n, pid] of Object.entries(ztunnels)) {
    if (ztunnelPid(n.replace('ztunnel ', '')) !== pid) throw new Error(`${n} restarted during the run: its figures are not one process's`);
  }
  if (modes.includes('waypoint')) {
    const pod = (await k.waypointPods('l7', 'waypoint')).find((x) => x.ready);
    if (pod === undefined || (await k.waypointPid('l7', pod.name)) !== waypointPid)
      throw new Error('the waypoint restarted during the run: its figures are not one process’s');
  }

  mkdirSync(RESULTS, { recursive: true });
  const base = join(RESULTS, `${results.date}-l7`);
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
