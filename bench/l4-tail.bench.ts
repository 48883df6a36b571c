// The L4 latency tail, hop by hop (issue 16). The l4 bench's cluster and modes (direct, Ambit, the HAProxy pair) at
// one rate, interleaved over several rounds; in every run six taps capture the request's path:
//   client pod lo (h2load ↔ client proxy) · client pod eth0 · node1's link · node2's link · server pod eth0 ·
//   server pod lo (server proxy ↔ nginx)
// and each request is followed across them (bench/l4-tail/hops.ts): Ambit's HBONE session is decrypted with the
// ztunnels' TLS key log to tell its HTTP/2 streams apart. The slowest 1 % are then split into phases (client proxy,
// network, server proxy, app) and set against GC pauses and event-loop delay recorded inside each ztunnel by a
// preloaded probe (bench/l4-tail/probe.mjs), and against each proxy thread's CPU and run-queue wait
// (/proc/<pid>/task/*/schedstat). Needs root. Writes bench/results/<date>-l4-tail.{json,md}.
//   BENCH_TAIL_ROUNDS (5), BENCH_TAIL_SECONDS (30), BENCH_TAIL_WARMUP (3), BENCH_TAIL_RPS (1000),
//   BENCH_TAIL_CONNS (4), BENCH_TAIL_CAPTURE (1; 0 = latency and process figures only), BENCH_TAIL_KEEP (0; 1 keeps
//   the captures), BENCH_TAIL_PROFILE (15: seconds of the closing runs that count each proxy's system calls with
//   `perf trace -s`, Ambit and HAProxy, then take a CPU profile of each ztunnel; 0 skips them),
//   BENCH_TAIL_ZTUNNEL_NODE_OPTIONS (extra Node flags for the ztunnels, e.g. to compare V8 settings),
//   BENCH_TAIL_NICE (unset; e.g. -10 adds the modes "ambit nice -10" and "haproxy nice -10": the same proxies with their
//   main threads at that priority for those runs, to see how much of the tail is a proxy waiting for a CPU)
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ambitctl, removeDir } from '../test/integration/helpers/ambitctl.ts';
import { componentPid } from '../test/integration/helpers/mesh-components.ts';
import { breakdown, type Breakdown } from './l4-tail/breakdown.ts';
import { summarizeProfile, type ProfileSummary } from './l4-tail/cpu-profile.ts';
import { startCapture, type Capture } from './l4-tail/capture.ts';
import { followRequests } from './l4-tail/follow.ts';
import type { Hops } from './l4-tail/hops.ts';
import {
  podTmpFile,
  probeFile,
  probeWindow,
  PROFILE_OUTPUT,
  PROFILE_REQUEST,
  threadRates,
  threadTimes,
  type ProbeWindow,
} from './l4-tail/process-probes.ts';
import { tailMarkdown, type TailResults, type TailRun } from './l4-tail/report.ts';
import { countSyscalls } from './l4-tail/syscalls.ts';
import { startL4Cluster } from './l4/cluster.ts';
import { h2loadFixedRate } from './l4/load.ts';
import type { NetnsProcess } from './l4/netns-process.ts';
import { MODES, type Mode } from './l4/results.ts';
import { BODY_BYTES, PORTS, startHaproxyPair, startServers } from './l4/servers.ts';
import { benchEnvironment } from './l4/environment.ts';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const CLUSTER = 'bench-l4-tail';
const ROUNDS = env('BENCH_TAIL_ROUNDS', 5);
const SECONDS = env('BENCH_TAIL_SECONDS', 30);
const WARMUP = env('BENCH_TAIL_WARMUP', 3);
const RPS = env('BENCH_TAIL_RPS', 1000);
const CONNS = env('BENCH_TAIL_CONNS', 4);
const CAPTURE = env('BENCH_TAIL_CAPTURE', 1) === 1;
const KEEP = env('BENCH_TAIL_KEEP', 0) === 1;
const PROFILE_SECONDS = env('BENCH_TAIL_PROFILE', 15);
const NICE = process.env['BENCH_TAIL_NICE'];
const TAIL_MODES: readonly string[] = [...MODES, ...(NICE === undefined ? [] : [`ambit nice ${NICE}`, `haproxy nice ${NICE}`])];
/** The mode whose cluster paths a tail mode uses ("ambit nice -10" → ambit). */
const baseOf = (m: string): Mode => MODES.find((x) => m === x || m.startsWith(`${x} `)) ?? 'direct';
const APPS = join(import.meta.dirname, 'apps');
const RESULTS = join(import.meta.dirname, 'results');
const HBONE_PORT = 15008;
// The pods see the checkout at /opt/ambit (the local kubelet maps the image's files to it), and write to their /tmp
// emptyDir, which the bench reads through /proc/<pid>/root.
const PROBE_IN_POD = '/opt/ambit/bench/l4-tail/probe.mjs';
const KEYLOG = 'tls-keys.log';

const progress = (msg: string): void => void process.stderr.write(`l4-tail: ${msg}\n`);

/**
 * Runs a proxy's main thread (a Linux nice value is per thread: the one that relays) at `nice`. With autogroup
 * scheduling (kernel.sched_autogroup_enabled) a nice value only weighs against the tasks of the same session, and the
 * local kubelet starts each container in a session of its own: a ztunnel is then alone in its autogroup and weighs
 * against the bench's whole session (h2load, nginx, HAProxy) as one. So a proxy alone in its autogroup gets the
 * group's nice as well; a proxy that shares the bench's (HAProxy) only its own.
 */
function prioritize(pid: number, nice: number): void {
  setPriority(pid, nice);
  const group = (p: number | 'self'): string => {
    try {
      return readFileSync(`/proc/${p}/autogroup`, 'utf8').split(' ')[0] ?? '';
    } catch {
      return '';
    }
  };
  const own = group(pid);
  if (own !== '' && own !== group('self')) writeFileSync(`/proc/${pid}/autogroup`, String(nice));
}

if (process.getuid?.() !== 0) {
  console.log('l4-tail: skipped (needs root to create network namespaces)');
  process.exit(0);
}
for (const tool of ['h2load', 'haproxy', 'nginx', 'openssl', 'tcpdump', 'tshark', 'ss']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.log(`l4-tail: skipped (${tool} is missing; scripts/ensure-deps.sh --bench installs it)`);
    process.exit(0);
  }
}

// Every ztunnel of this cluster loads the probe and logs its TLS secrets (for the decryption of its own captures
// only: the cluster is the bench's, and goes down at the end).
process.env['AMBIT_ZTUNNEL_NODE_OPTIONS'] = [
  process.env['BENCH_TAIL_ZTUNNEL_NODE_OPTIONS'] ?? '',
  `--import=${PROBE_IN_POD}`,
  CAPTURE ? `--tls-keylog=/tmp/${KEYLOG}` : '',
]
  .filter((s) => s.length > 0)
  .join(' ');

const work = mkdtempSync(join(tmpdir(), 'ambit-bench-l4-tail-'));
const started: NetnsProcess[] = [];
let captures: Capture[] = [];
let failed = true;
try {
  progress('starting the cluster');
  const { paths, net, meshIp, plainIp } = await startL4Cluster(CLUSTER);
  progress('starting nginx, the echo servers and the HAProxy pair');
  started.push(...(await startServers(net.meshServer, work, 'mesh', join(APPS, 'conn-server.mjs'))));
  started.push(...(await startServers(net.plainServer, work, 'plain', join(APPS, 'conn-server.mjs'))));
  const haproxy = await startHaproxyPair(net.plainClient, net.plainServer, plainIp, work);
  started.push(haproxy.client, haproxy.server);
  const ztunnel1 = componentPid(paths, 'ztunnel', 'node1');
  const ztunnel2 = componentPid(paths, 'ztunnel', 'node2');
  if (!existsSync(probeFile(ztunnel1))) await new Promise((r) => setTimeout(r, 1500));
  if (!existsSync(probeFile(ztunnel1))) throw new Error(`the ztunnel probe wrote nothing to ${probeFile(ztunnel1)}`);

  const targets: Record<Mode, { client: string; server: string; host: string; proxies: Record<string, number> }> = {
    direct: { client: net.plainClient, server: net.plainServer, host: plainIp, proxies: {} },
    ambit: {
      client: net.meshClient,
      server: net.meshServer,
      host: meshIp,
      proxies: { 'ztunnel node1': ztunnel1, 'ztunnel node2': ztunnel2 },
    },
    haproxy: {
      client: net.plainClient,
      server: net.plainServer,
      host: '127.0.0.1',
      proxies: { 'haproxy client': haproxy.client.pid, 'haproxy server': haproxy.server.pid },
    },
  };
  const body = join(work, 'body-1k');
  writeFileSync(body, Buffer.alloc(BODY_BYTES, 'y'));
  const h2 = (m: Mode, seconds: number, warmupSeconds: number) =>
    h2loadFixedRate(targets[m].client, `http://${targets[m].host}:${PORTS.http}/`, {
      rps: RPS,
      conns: CONNS,
      seconds,
      warmupSeconds,
      bodyFile: body,
      logFile: join(work, 'h2load.log'),
    });

  progress('warm-up (JIT, HBONE pool, certificates)');
  for (const m of MODES) await h2(m, 5, 1);

  const runs: TailRun[] = [];
  const hopsByMode: Record<string, Hops[]> = {};
  const pausesByMode: Record<string, { client: { start: number; end: number }[]; server: { start: number; end: number }[] }> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const m of TAIL_MODES) {
      progress(`round ${round}/${ROUNDS}: ${m} at ${RPS} rps over ${CONNS} connections`);
      const base = baseOf(m);
      const t = targets[base];
      const nice = m === base ? 0 : Number(NICE);
      for (const pid of Object.values(t.proxies)) prioritize(pid, nice);
      if (base === 'ambit' && CAPTURE) {
        // A fresh HBONE session, so its handshake is in the capture and the key log can decrypt it.
        execFileSync('ip', ['netns', 'exec', t.client, 'ss', '-K', '-tn', 'dst', meshIp, 'dport', '=', String(HBONE_PORT)]);
      }
      const dir = join(work, `r${round}-${m.replaceAll(' ', '')}`);
      mkdirSync(dir, { recursive: true });
      const tapSpecs = [
        { name: 'clientLo', netns: t.client, iface: 'lo', snap: 96 },
        { name: 'clientEth', netns: t.client, iface: 'eth0', snap: base === 'ambit' ? 0 : 96 },
        { name: 'node1', netns: net.node1, iface: 'eth0', snap: 96 },
        { name: 'node2', netns: net.node2, iface: 'eth0', snap: 96 },
        { name: 'serverEth', netns: t.server, iface: 'eth0', snap: 96 },
        { name: 'serverLo', netns: t.server, iface: 'lo', snap: 96 },
      ] as const;
      captures = CAPTURE
        ? await Promise.all(tapSpecs.map((s) => startCapture(s.netns, s.iface, 'tcp', join(dir, `${s.name}.pcap`), s.snap)))
        : [];
      const threadsBefore = Object.fromEntries(Object.entries(t.proxies).map(([n, pid]) => [n, threadTimes(pid)]));
      const runStart = Date.now();
      // Requests and probe lines count from the end of h2load's warm-up.
      const from = runStart + WARMUP * 1000;
      const latency = await h2(base, SECONDS, WARMUP);
      const to = Date.now();
      for (const pid of Object.values(t.proxies)) prioritize(pid, 0);
      const threads = Object.fromEntries(
        Object.entries(t.proxies).map(([n, pid]) => [n, threadRates(threadsBefore[n] ?? {}, threadTimes(pid), (to - runStart) / 1000)]),
      );
      const drops = await Promise.all(captures.map((c) => c.stop()));
      captures = [];
      const probes: Record<string, ProbeWindow | undefined> =
        base === 'ambit' ? { 'ztunnel node1': probeWindow(ztunnel1, from, to), 'ztunnel node2': probeWindow(ztunnel2, from, to) } : {};
      let tail: Breakdown | undefined;
      if (CAPTURE && base !== 'direct') {
        const keylog = join(dir, 'keys.log');
        if (base === 'ambit') {
          writeFileSync(keylog, '');
          for (const pid of [ztunnel1, ztunnel2]) appendFileSync(keylog, readFileSync(podTmpFile(pid, KEYLOG)));
        }
        const followed = await followRequests(dir, base, base === 'ambit' ? keylog : undefined);
        const hops = followed.hops.filter((h) => (h[0] ?? 0) >= from * 1000 && (h[0] ?? 0) <= to * 1000);
        const pauses =
          base === 'ambit'
            ? { client: [...(probes['ztunnel node1']?.pauses ?? [])], server: [...(probes['ztunnel node2']?.pauses ?? [])] }
            : undefined;
        tail = breakdown(hops, pauses);
        (hopsByMode[m] ??= []).push(...hops);
        if (pauses !== undefined) {
          const all = (pausesByMode[m] ??= { client: [], server: [] });
          all.client.push(...pauses.client);
          all.server.push(...pauses.server);
        }
        progress(
          `  ${hops.length} requests followed across the six taps (h2load: ${Math.round(latency.achievedRps * SECONDS)}; ` +
            `${followed.disordered} left out as mis-paired); ` +
            `p99 ${Math.round(tail.total.p99)} µs on the wire, ${Math.round(latency.p99)} µs in h2load`,
        );
      }
      if (!KEEP) rmSync(dir, { recursive: true, force: true });
      runs.push({
        round,
        mode: m,
        latency,
        threads,
        probes: Object.fromEntries(
          Object.entries(probes).map(([n, p]) => [n, p === undefined ? undefined : { ...p, pauses: undefined }]),
        ) as TailRun['probes'],
        tail,
        captureDrops: drops.reduce((a, d) => a + (Number.isFinite(d.dropped) ? d.dropped : 0), 0),
      });
      if (latency.void) progress(`  void: ${latency.achievedRps.toFixed(1)} of ${RPS} rps, ${latency.failed} failed`);
    }
  }
  for (const [n, pid] of [
    ['node1', ztunnel1],
    ['node2', ztunnel2],
  ] as const) {
    if (componentPid(paths, 'ztunnel', n) !== pid)
      throw new Error(`ztunnel on ${n} restarted during the run: its figures are not one process's`);
  }
  const syscallsPerRequest: Record<string, Record<string, number>> = {};
  const cpuProfiles: Record<string, ProfileSummary> = {};
  if (PROFILE_SECONDS > 0) {
    for (const m of ['ambit', 'haproxy'] as const) {
      progress(`${m}: ${PROFILE_SECONDS} s counting system calls`);
      const proxies = Object.entries(targets[m].proxies);
      // One perf per proxy, nested, so all of them count over the same h2load run.
      const counted: Record<string, Record<string, number>> = {};
      const nest = async (i: number): Promise<void> => {
        const entry = proxies[i];
        if (entry === undefined) {
          await h2(m, PROFILE_SECONDS, 0);
          return;
        }
        counted[entry[0]] = await countSyscalls(entry[1], () => nest(i + 1));
      };
      await nest(0);
      const requests = RPS * PROFILE_SECONDS;
      for (const [n, calls] of Object.entries(counted)) {
        syscallsPerRequest[n] = Object.fromEntries(Object.entries(calls).map(([sc, c]) => [sc, c / requests]));
      }
    }
    // Apart from the counted run: V8's sampler signals the profiled thread (tgkill, sigprocmask) thousands of times a
    // second, which would show up as the proxy's own system calls.
    progress(`ambit: ${PROFILE_SECONDS} s profiling the ztunnels`);
    for (const [, pid] of Object.entries(targets.ambit.proxies)) {
      rmSync(podTmpFile(pid, PROFILE_OUTPUT), { force: true });
      writeFileSync(podTmpFile(pid, PROFILE_REQUEST), String(PROFILE_SECONDS));
    }
    // The probe looks for the request once a second.
    await new Promise((r) => setTimeout(r, 1100));
    await h2('ambit', PROFILE_SECONDS, 0);
    for (const [n, pid] of Object.entries(targets.ambit.proxies)) {
      const file = podTmpFile(pid, PROFILE_OUTPUT);
      for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 200));
      if (existsSync(file)) cpuProfiles[n] = summarizeProfile(file);
      else progress(`  no CPU profile from ${n}`);
    }
  }
  const results: TailResults = {
    date: new Date().toISOString().slice(0, 10),
    environment: benchEnvironment(),
    config: {
      rounds: ROUNDS,
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      rps: RPS,
      conns: CONNS,
      capture: CAPTURE,
      ztunnelNodeOptions: process.env['BENCH_TAIL_ZTUNNEL_NODE_OPTIONS'] ?? '',
      modes: TAIL_MODES,
    },
    runs,
    pooled: Object.fromEntries(
      Object.entries(hopsByMode)
        .filter(([, hops]) => hops.length > 0)
        .map(([m, hops]) => [m, breakdown(hops, pausesByMode[m])]),
    ),
    syscallsPerRequest,
    cpuProfiles,
  };
  mkdirSync(RESULTS, { recursive: true });
  const base = join(RESULTS, `${results.date}-l4-tail`);
  const md = tailMarkdown(results);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  console.log(md);
  console.log(`written: ${base}.json, .md`);
  failed = false;
} finally {
  for (const c of captures) await c.stop();
  for (const p of started.reverse()) await p.stop();
  await ambitctl(CLUSTER, ['local', 'down']);
  if (failed || KEEP) progress(`configs, logs${KEEP ? ' and captures' : ''} are in ${work}`);
  else removeDir(work);
}
