import { clientCounts, goals, requestTotals, type SoakResults } from './results.ts';
import type { MemorySample } from './samples.ts';

const mb = (bytes: number | undefined): string => (bytes === undefined ? '–' : (bytes / 1e6).toFixed(1));

/** The sample nearest to `sec` (within one sampling period), for the per-minute series. */
function sampleNear(samples: readonly MemorySample[], sec: number, periodSec: number): MemorySample | undefined {
  let best: MemorySample | undefined;
  for (const s of samples) if (best === undefined || Math.abs(s.tSec - sec) < Math.abs(best.tSec - sec)) best = s;
  return best !== undefined && Math.abs(best.tSec - sec) <= periodSec ? best : undefined;
}

/** The results as markdown: goals, what the clients did, and each ztunnel's memory and descriptors minute by minute. */
export function markdown(r: SoakResults): string {
  const e = r.environment;
  const c = r.config;
  const lines: string[] = [];
  const row = (cells: readonly string[]): void => void lines.push(`| ${cells.join(' | ')} |`);
  const req = requestTotals(r);
  const clients = clientCounts(r);
  const churnConnsPerSec = r.load.churn.length === 0 ? 0 : clients.churn / r.load.endSec;
  lines.push(`# L4 soak, ${r.date}`, '');
  lines.push(`Node ${e.node}, ${e.nproc} cores (${e.cpu}), kernel ${e.kernel}. Mesh client pod on node1, mesh server pod on node2`);
  lines.push(
    `of a local cluster (the \`l4\` bench's layout). ${c.minutes} minutes of: \`h2load --h1\` at ${c.rps} rps over ${c.conns} connections`,
  );
  lines.push(
    `(1 KiB POST, 1 KiB answer; back-to-back 60 s runs), connection churn (${c.churnLoops} connect–echo–close loops, ${c.churnMaxPerSec > 0 ? `at most ${c.churnMaxPerSec}/s` : 'uncapped'}) and an \`iperf3\``,
  );
  lines.push(
    `transfer of ${c.transferSize} in the middle of every ${c.transferEveryMinutes} minutes. Each ztunnel sampled every ${c.sampleEverySeconds} s; a minute's`,
  );
  lines.push('level is the median of its samples over the minute up to it. Method: `bench/README.md`.', '');
  lines.push('## Goals', '');
  row(['goal', 'measured', '']);
  row(['---', '---', '---']);
  for (const g of goals(r)) row([g.goal, g.measured, g.met ? 'met' : '**missed**']);
  lines.push('', '## Load', '');
  row(['load', 'measured']);
  row(['---', '---']);
  row([
    'h2load',
    `${req.succeeded} requests in ${r.load.h2load.length} runs, ${req.achievedRps.toFixed(1)} rps, ${req.failed} failed; ${clients.h2load} connections`,
  ]);
  row(['churn', `${clients.churn} connections (${churnConnsPerSec.toFixed(0)} per second), ${clients.churnErrors} errors`]);
  row([
    'transfers',
    r.load.transfers.length === 0
      ? 'none'
      : `${r.load.transfers.length} × ${c.transferSize}: ${r.load.transfers.map((t) => `${t.gbps.toFixed(2)} Gbit/s`).join(', ')}; ${clients.iperf3} connections (control + data each)`,
  ]);
  row(['connections, client side', String(clients.total)]);
  lines.push('', '## Each ztunnel, minute by minute (MB; fds)', '');
  const names = Object.keys(r.ztunnels);
  row(['minute', ...names.flatMap((n) => [`${n} RSS`, 'private', 'fds'])]);
  row(Array(1 + 3 * names.length).fill('---') as string[]);
  const lastMinute = Math.floor(r.load.endSec / 60);
  const idle = (label: string, pick: (z: SoakResults['ztunnels'][string]) => MemorySample): void =>
    row([
      label,
      ...names.flatMap((n) => {
        const s = pick(r.ztunnels[n]!);
        return [mb(s.rss), mb(s.private), String(s.fds)];
      }),
    ]);
  idle('idle before', (z) => z.idleBefore);
  for (let m = 0; m <= lastMinute; m++) {
    row([
      String(m),
      ...names.flatMap((n) => {
        const s = sampleNear(r.ztunnels[n]?.samples ?? [], m * 60, c.sampleEverySeconds);
        return [mb(s?.rss), mb(s?.private), s === undefined ? '–' : String(s.fds)];
      }),
    ]);
  }
  // The load's last sample (taken as it stopped), when the minutes above end short of it.
  if (r.load.endSec - lastMinute * 60 > c.sampleEverySeconds / 2) {
    row([
      `end (${(r.load.endSec / 60).toFixed(1)})`,
      ...names.flatMap((n) => {
        const s = r.ztunnels[n]?.samples.at(-1);
        return [mb(s?.rss), mb(s?.private), s === undefined ? '–' : String(s.fds)];
      }),
    ]);
  }
  idle('idle after', (z) => z.idleAfter);
  if (r.samplerErrors.length > 0) lines.push('', '## Sampling errors', '', ...r.samplerErrors.map((x) => `- ${x}`));
  return `${lines.join('\n')}\n`;
}
