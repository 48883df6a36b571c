import {
  addedLatency,
  connRateOf,
  idleBytesPerConnection,
  latencyOf,
  PROXIED,
  throughputOf,
  throughputRatio,
  usageOf,
  voidRuns,
  type L4Results,
  type Spread,
} from './results.ts';

const f = (s: Spread, digits = 0, scale = 1): string =>
  s.n === 0 ? 'void' : `${(s.median * scale).toFixed(digits)} (${(s.min * scale).toFixed(digits)}–${(s.max * scale).toFixed(digits)})`;

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

/** The goals, each against what this run measured (a miss is reported, not hidden). */
export function goals(r: L4Results): Goal[] {
  const out: Goal[] = [];
  for (const conns of r.config.connections) {
    const a = addedLatency(r, 1000, conns, 'ambit', 'p99');
    const h = addedLatency(r, 1000, conns, 'haproxy', 'p99');
    out.push({
      goal: `added p99 at 1000 rps, ${conns} conns ≤ 0.5 ms`,
      measured: `${(a.median / 1000).toFixed(3)} ms`,
      met: a.n > 0 && a.median <= 500,
    });
    out.push({
      goal: `added p99 at 1000 rps, ${conns} conns below HAProxy's`,
      measured: `${(a.median / 1000).toFixed(3)} vs ${(h.median / 1000).toFixed(3)} ms`,
      met: a.n > 0 && h.n > 0 && a.median < h.median,
    });
  }
  const t1 = throughputRatio(r, 1, 'ambit');
  const t4 = throughputRatio(r, 4, 'ambit');
  out.push({ goal: 'single stream ≥ 0.4 × direct', measured: `${t1.median.toFixed(2)} ×`, met: t1.median >= 0.4 });
  out.push({ goal: '4 streams ≥ 0.6 × direct', measured: `${t4.median.toFixed(2)} ×`, met: t4.median >= 0.6 });
  for (const conns of r.config.connections) {
    const u = usageOf(r, 1000, conns, 'ambit');
    const worstCpu = Math.max(...Object.values(u).map((x) => x.vcpuPer1000.median));
    const worstRss = Math.max(...Object.values(u).map((x) => x.rssMb.median));
    const worstPrivate = Math.max(...Object.values(u).map((x) => x.privateMb.median));
    out.push({
      goal: `each ztunnel ≤ 0.15 vCPU at 1000 rps, ${conns} conns`,
      measured: `${worstCpu.toFixed(3)} vCPU`,
      met: worstCpu <= 0.15,
    });
    out.push({
      goal: `each ztunnel ≤ 60 MB RSS at 1000 rps, ${conns} conns`,
      measured: `${worstRss.toFixed(1)} MB (private ${worstPrivate.toFixed(1)} MB)`,
      met: worstRss <= 60,
    });
  }
  const idle = Math.max(...Object.values(idleBytesPerConnection(r, 'ambit')));
  out.push({
    goal: `≤ 4 KB RSS per idle tunnelled connection (${r.config.idleConnections})`,
    measured: `${(idle / 1024).toFixed(2)} KB`,
    met: idle <= 4096,
  });
  return out;
}

/** The results as the markdown table README links to. */
export function markdown(r: L4Results): string {
  const e = r.environment;
  const c = r.config;
  const lines: string[] = [];
  const row = (cells: readonly string[]): void => void lines.push(`| ${cells.join(' | ')} |`);
  lines.push(`# L4 benchmark, ${r.date}`, '');
  lines.push(`Node ${e.node}, ${e.nproc} cores (${e.cpu}), kernel ${e.kernel}. Client pod on node1, server pod on node2 of a local`);
  lines.push(
    `cluster; modes interleaved in one run. Each figure: median (min–max) of ${c.rounds} runs. Latency runs: ${c.seconds} s after ${c.warmupSeconds} s`,
  );
  lines.push(
    `warm-up, \`h2load --h1\` POSTing 1 KiB to nginx answering 1 KiB; a run missing its rate by > 1% is void (${voidRuns(r)} void).`,
  );
  lines.push('Method: `bench/README.md`, `../shared/reference/performance.md`.', '');
  lines.push('## Goals', '');
  row(['goal', 'measured', '']);
  row(['---', '---', '---']);
  for (const g of goals(r)) row([g.goal, g.measured, g.met ? 'met' : '**missed**']);
  lines.push('', '## Added latency over direct (µs)', '');
  row([
    'rps',
    'conns',
    'direct p50',
    'direct p99',
    'Ambit +p50',
    'Ambit +p90',
    'Ambit +p99',
    'HAProxy +p50',
    'HAProxy +p90',
    'HAProxy +p99',
  ]);
  row(Array(10).fill('---') as string[]);
  for (const rps of c.rates) {
    for (const conns of c.connections) {
      row([
        String(rps),
        String(conns),
        f(latencyOf(r, rps, conns, 'direct', 'p50')),
        f(latencyOf(r, rps, conns, 'direct', 'p99')),
        ...PROXIED.flatMap((m) => (['p50', 'p90', 'p99'] as const).map((k) => f(addedLatency(r, rps, conns, m, k)))),
      ]);
    }
  }
  lines.push('', `## Throughput (\`iperf3\`, ${c.iperfSeconds} s)`, '');
  row(['streams', 'direct Gbit/s', 'Ambit Gbit/s', 'Ambit / direct', 'HAProxy Gbit/s', 'HAProxy / direct']);
  row(Array(6).fill('---') as string[]);
  for (const streams of [1, 4]) {
    row([
      String(streams),
      f(throughputOf(r, streams, 'direct'), 2),
      f(throughputOf(r, streams, 'ambit'), 2),
      f(throughputRatio(r, streams, 'ambit'), 2),
      f(throughputOf(r, streams, 'haproxy'), 2),
      f(throughputRatio(r, streams, 'haproxy'), 2),
    ]);
  }
  lines.push('', '## Cost per proxy (vCPU per 1000 rps; mean RSS and private RSS in MB)', '');
  lines.push('Private RSS is RssAnon: RSS less file-backed pages (mostly the node binary, shared by every Node process).', '');
  row(['rps', 'conns', 'proxy', 'vCPU / 1000 rps', 'RSS MB', 'private MB']);
  row(Array(6).fill('---') as string[]);
  for (const rps of c.rates) {
    for (const conns of c.connections) {
      for (const m of PROXIED) {
        for (const [name, u] of Object.entries(usageOf(r, rps, conns, m)))
          row([String(rps), String(conns), name, f(u.vcpuPer1000, 3), f(u.rssMb, 1), f(u.privateMb, 1)]);
      }
    }
  }
  lines.push('', `## Idle connections (${c.idleConnections} open through the proxies)`, '');
  lines.push('One run per proxy, after the rounds: a proxy does not hand freed memory back to the OS at once, so a second');
  lines.push('run on the same process would measure reused memory, not the cost of the connections.', '');
  row(['proxy', 'connections', 'RSS before (MB)', 'RSS with them (MB)', 'RSS bytes per connection', 'private bytes per connection']);
  row(Array(6).fill('---') as string[]);
  for (const e2 of r.idle) {
    for (const [name, v] of Object.entries(e2.proxies)) {
      row([
        name,
        String(e2.connections),
        (v.before / 1e6).toFixed(1),
        (v.with / 1e6).toFixed(1),
        ((v.with - v.before) / e2.connections).toFixed(0),
        ((v.privateWith - v.privateBefore) / e2.connections).toFixed(0),
      ]);
    }
  }
  lines.push('', `## New connections per second (connect, 1-byte echo, close; ${c.connRateConcurrency} loops, ${c.connRateSeconds} s)`, '');
  row(['mode', 'connections/s', 'ratio to direct']);
  row(Array(3).fill('---') as string[]);
  const direct = connRateOf(r, 'direct');
  for (const m of ['direct', ...PROXIED] as const) {
    const s = connRateOf(r, m);
    row([m, f(s), (s.median / direct.median).toFixed(2)]);
  }
  lines.push('');
  return lines.join('\n');
}
