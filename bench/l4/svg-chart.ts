import { addedLatency, throughputRatio, type L4Results, type Mode } from './results.ts';

const COLORS: Record<string, string> = { ambit: '#2b6cb0', haproxy: '#c05621' };
export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export interface Bar {
  readonly value: number;
  readonly color: string;
}

/** One panel of grouped bars with an optional dashed goal line; values in the panel's unit. */
export function panel(
  x0: number,
  width: number,
  title: string,
  unit: string,
  groups: { label: string; bars: Bar[] }[],
  goal: number | undefined,
): string {
  const top = 40;
  const height = 260;
  const max = Math.max(goal ?? 0, ...groups.flatMap((g) => g.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)))) * 1.15 || 1;
  const y = (v: number): number => top + height - (Math.max(0, v) / max) * height;
  const gw = width / groups.length;
  const parts: string[] = [
    `<text x="${x0 + width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  parts.push(`<line x1="${x0}" y1="${top + height}" x2="${x0 + width}" y2="${top + height}" stroke="#333"/>`);
  for (let t = 0; t <= 4; t++) {
    const v = (max / 4) * t;
    parts.push(`<text x="${x0 - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v.toFixed(v < 10 ? 2 : 0)}</text>`);
    parts.push(`<line x1="${x0}" y1="${y(v)}" x2="${x0 + width}" y2="${y(v)}" stroke="#eee"/>`);
  }
  parts.push(
    `<text x="${x0 - 34}" y="${top + height / 2}" font-size="11" transform="rotate(-90 ${x0 - 34} ${top + height / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  groups.forEach((g, gi) => {
    const bw = (gw * 0.7) / g.bars.length;
    g.bars.forEach((b, bi) => {
      const bx = x0 + gi * gw + gw * 0.15 + bi * bw;
      if (!Number.isFinite(b.value)) {
        parts.push(`<text x="${bx + bw / 2}" y="${top + height - 4}" text-anchor="middle" font-size="9">void</text>`);
        return;
      }
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${y(b.value).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + height - y(b.value)).toFixed(1)}" fill="${b.color}"/>`,
      );
      parts.push(
        `<text x="${(bx + bw / 2).toFixed(1)}" y="${(y(b.value) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${b.value.toFixed(2)}</text>`,
      );
    });
    parts.push(`<text x="${x0 + gi * gw + gw / 2}" y="${top + height + 16}" text-anchor="middle" font-size="10">${esc(g.label)}</text>`);
  });
  if (goal !== undefined) {
    parts.push(`<line x1="${x0}" y1="${y(goal)}" x2="${x0 + width}" y2="${y(goal)}" stroke="#2f855a" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${x0 + width}" y="${y(goal) - 4}" text-anchor="end" font-size="10" fill="#2f855a">goal ${goal}</text>`);
  }
  return parts.join('\n');
}

/** Added p99 per rate and connection count, and throughput ratios, for Ambit and the HAProxy pair. */
export function svgChart(r: L4Results): string {
  const modes: Mode[] = ['ambit', 'haproxy'];
  const latencyGroups = r.config.rates.flatMap((rps) =>
    r.config.connections.map((conns) => ({
      label: `${rps} rps ×${conns}`,
      bars: modes.map((m) => ({ value: addedLatency(r, rps, conns, m, 'p99').median / 1000, color: COLORS[m]! })),
    })),
  );
  const tputGroups = [1, 4].map((streams) => ({
    label: `${streams} stream${streams > 1 ? 's' : ''}`,
    bars: modes.map((m) => ({ value: throughputRatio(r, streams, m).median, color: COLORS[m]! })),
  }));
  const body = [
    panel(70, 560, 'Added p99 latency over no mesh (HTTP/1.1, 1 KiB)', 'ms', latencyGroups, 0.5),
    panel(730, 220, 'Throughput / no mesh (iperf3)', 'ratio', tputGroups, undefined),
    `<rect x="70" y="338" width="12" height="12" fill="${COLORS['ambit']}"/><text x="88" y="348" font-size="11">Ambit (two ztunnels, HBONE)</text>`,
    `<rect x="270" y="338" width="12" height="12" fill="${COLORS['haproxy']}"/><text x="288" y="348" font-size="11">HAProxy pair (TCP → mTLS → TCP)</text>`,
    `<text x="70" y="372" font-size="10">${esc(`${r.date} · Node ${r.environment.node} · ${r.environment.nproc} cores · kernel ${r.environment.kernel} · median of ${r.config.rounds} runs`)}</text>`,
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="980" height="385" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}
