import { panel, esc } from '../l4/svg-chart.ts';
import type { Spread } from '../l4/results.ts';
import {
  addedOverL4,
  HOP_PROCESS,
  HOPS,
  hopCpu,
  latencyOf,
  maxRps,
  PROTOCOLS,
  usageOf,
  voidRuns,
  type L7Results,
  type Protocol,
} from './results.ts';

const f = (s: Spread, digits = 0, scale = 1): string =>
  s.n === 0 ? 'void' : `${(s.median * scale).toFixed(digits)} (${(s.min * scale).toFixed(digits)}–${(s.max * scale).toFixed(digits)})`;
const PROTOCOL_NAME: Record<Protocol, string> = { h1: 'HTTP/1.1', h2c: 'h2c' };

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
}

/** Issue 13's benchmark goals, each against what this run measured (a miss is reported, not hidden). */
export function goals(r: L7Results): Goal[] {
  const out: Goal[] = [];
  const has = r.modes.includes('waypoint');
  const nan = (s: Spread): boolean => !has || s.n === 0;
  for (const p of PROTOCOLS) {
    const cpu = hopCpu(r, p, 1000, 'waypoint');
    out.push({
      goal: `waypoint ≤ 0.12 vCPU per 1000 rps (${PROTOCOL_NAME[p]}, at 1000 rps)`,
      measured: nan(cpu) ? 'not measured' : `${cpu.median.toFixed(3)} vCPU`,
      met: nan(cpu) ? undefined : cpu.median <= 0.12,
    });
  }
  const rss = usageOf(r, 'h1', 1000, 'waypoint')[HOP_PROCESS]?.rssMb;
  const peak = Math.max(
    ...PROTOCOLS.flatMap((p) =>
      [...r.config.rates, 'max' as const].map((x) => usageOf(r, p, x, 'waypoint')[HOP_PROCESS]?.peakMb.max ?? NaN),
    ),
  );
  out.push({
    goal: 'waypoint ≤ 80 MB RSS (mean at 1000 rps HTTP/1.1; peak over every run beside it)',
    measured: rss === undefined || nan(rss) ? 'not measured' : `${rss.median.toFixed(1)} MB (peak ${peak.toFixed(1)} MB)`,
    met: rss === undefined || nan(rss) ? undefined : rss.median <= 80,
  });
  for (const p of PROTOCOLS) {
    const a = addedOverL4(r, p, 1000, 'waypoint', 'p99');
    out.push({
      goal: `waypoint adds ≤ 1 ms p99 over L4 at 1000 rps (${PROTOCOL_NAME[p]})`,
      measured: nan(a) ? 'not measured' : `${(a.median / 1000).toFixed(3)} ms`,
      met: nan(a) ? undefined : a.median <= 1000,
    });
  }
  for (const p of PROTOCOLS) {
    const w = hopCpu(r, p, 1000, 'waypoint');
    const n = hopCpu(r, p, 1000, 'nginx');
    const ratio = w.median / n.median;
    out.push({
      goal: `waypoint CPU per request within 2× nginx's (${PROTOCOL_NAME[p]}, at 1000 rps)`,
      measured: nan(w) || n.n === 0 ? 'not measured' : `${ratio.toFixed(2)} × (${w.median.toFixed(3)} vs ${n.median.toFixed(3)} vCPU)`,
      met: nan(w) || n.n === 0 ? undefined : ratio <= 2,
    });
  }
  return out;
}

/** The results as the markdown table README links to. */
export function markdown(r: L7Results): string {
  const e = r.environment;
  const c = r.config;
  const lines: string[] = [];
  const row = (cells: readonly string[]): void => void lines.push(`| ${cells.join(' | ')} |`);
  lines.push(`# L7 benchmark, ${r.date}`, '');
  lines.push(`Node ${e.node}, ${e.nproc} cores (${e.cpu}), kernel ${e.kernel}. Client pods on node1, server pods on node2 of a local`);
  lines.push(
    `cluster; modes interleaved in one run. Each figure: median (min–max) of ${c.rounds} runs of ${c.seconds} s after ${c.warmupSeconds} s warm-up,`,
  );
  lines.push(
    `\`h2load\` over ${c.connections} connections POSTing ${c.bodyBytes} B to nginx answering ${c.bodyBytes} B; a fixed-rate run missing its rate by > 1% is void (${voidRuns(r)} void).`,
  );
  lines.push('Modes: **l4** ztunnel → ztunnel; **waypoint** Ambit’s waypoint in the path (HBONE in and out);');
  lines.push('**nginx** at the waypoint’s place: a mesh pod running nginx (`proxy_pass`, upstream keep-alive, HTTP/1.1 upstream),');
  lines.push('reached and leaving through its node’s ztunnel. Method: `bench/README.md`, `../shared/reference/performance.md`.');
  for (const [m, why] of Object.entries(r.unavailable)) lines.push('', `**${m}: not measured** — ${why}`);
  lines.push(
    '',
    `L7 hops placed on: ${
      Object.entries(r.placement)
        .map(([m, n]) => `${m} ${n}`)
        .join(', ') || 'n/a'
    }.`,
    '',
  );
  lines.push('## Goals (issue 13)', '');
  row(['goal', 'measured', '']);
  row(['---', '---', '---']);
  for (const g of goals(r)) row([g.goal, g.measured, g.met === undefined ? 'not measured' : g.met ? 'met' : '**missed**']);
  for (const p of PROTOCOLS) {
    lines.push('', `## ${PROTOCOL_NAME[p]}: added latency over L4 only (µs)`, '');
    row(['rps', 'l4 p50', 'l4 p99', 'waypoint +p50', 'waypoint +p99', 'nginx +p50', 'nginx +p99']);
    row(Array(7).fill('---') as string[]);
    for (const rate of c.rates) {
      row([
        String(rate),
        f(latencyOf(r, p, rate, 'l4', 'p50')),
        f(latencyOf(r, p, rate, 'l4', 'p99')),
        ...HOPS.flatMap((m) => (['p50', 'p99'] as const).map((k) => (r.modes.includes(m) ? f(addedOverL4(r, p, rate, m, k)) : 'n/a'))),
      ]);
    }
  }
  lines.push('', '## Maximum rate (requests/s)', '');
  row(['protocol', ...r.modes]);
  row(Array(r.modes.length + 1).fill('---') as string[]);
  for (const p of PROTOCOLS) row([PROTOCOL_NAME[p], ...r.modes.map((m) => f(maxRps(r, p, m)))]);
  lines.push('', '## Cost per process (vCPU per 1000 rps achieved; mean, peak and private RSS in MB)', '');
  lines.push(`"${HOP_PROCESS}" is the waypoint or the nginx process; private RSS is RssAnon (RSS less file-backed pages).`, '');
  row(['protocol', 'rps', 'mode', 'process', 'vCPU / 1000 rps', 'RSS MB', 'peak MB', 'private MB']);
  row(Array(8).fill('---') as string[]);
  for (const p of PROTOCOLS) {
    for (const rate of [...c.rates, 'max' as const]) {
      for (const m of r.modes) {
        for (const [name, u] of Object.entries(usageOf(r, p, rate, m)))
          row([PROTOCOL_NAME[p], String(rate), m, name, f(u.vcpuPer1000, 3), f(u.rssMb, 1), f(u.peakMb, 1), f(u.privateMb, 1)]);
      }
    }
  }
  lines.push('');
  return lines.join('\n');
}

const COLORS = { l4: '#718096', waypoint: '#2b6cb0', nginx: '#2f855a' } as const;

/** Added p99 per protocol and rate, the L7 hop's vCPU per 1000 rps, and maximum rates, waypoint beside nginx. */
export function svgChart(r: L7Results): string {
  const latency = PROTOCOLS.flatMap((p) =>
    r.config.rates.map((rate) => ({
      label: `${PROTOCOL_NAME[p]} ${rate}`,
      bars: HOPS.map((m) => ({ value: addedOverL4(r, p, rate, m, 'p99').median / 1000, color: COLORS[m] })),
    })),
  );
  const cpu = PROTOCOLS.flatMap((p) =>
    r.config.rates.map((rate) => ({
      label: `${PROTOCOL_NAME[p]} ${rate}`,
      bars: HOPS.map((m) => ({ value: hopCpu(r, p, rate, m).median, color: COLORS[m] })),
    })),
  );
  const max = PROTOCOLS.map((p) => ({
    label: PROTOCOL_NAME[p],
    bars: (['l4', ...HOPS] as const).map((m) => ({ value: maxRps(r, p, m).median / 1000, color: COLORS[m] })),
  }));
  const body = [
    panel(70, 520, 'Added p99 over L4 only (1 KiB)', 'ms', latency, 1),
    panel(660, 420, 'L7 hop vCPU per 1000 rps', 'vCPU', cpu, 0.12),
    panel(1150, 220, 'Maximum rate', 'k req/s', max, undefined),
    `<rect x="70" y="338" width="12" height="12" fill="${COLORS.waypoint}"/><text x="88" y="348" font-size="11">Ambit waypoint</text>`,
    `<rect x="220" y="338" width="12" height="12" fill="${COLORS.nginx}"/><text x="238" y="348" font-size="11">nginx at the waypoint's place</text>`,
    `<rect x="440" y="338" width="12" height="12" fill="${COLORS.l4}"/><text x="458" y="348" font-size="11">L4 only (max rate)</text>`,
    `<text x="70" y="372" font-size="10">${esc(`${r.date} · Node ${r.environment.node} · ${r.environment.nproc} cores · kernel ${r.environment.kernel} · median of ${r.config.rounds} runs${r.modes.includes('waypoint') ? '' : ' · waypoint not measured'}`)}</text>`,
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1400" height="385" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}
