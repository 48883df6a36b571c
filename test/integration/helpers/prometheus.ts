import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@ambit/core/testing';
import { run } from './ambitctl.ts';

/** A scrape job: targets are `ip:port`, all read at `path`. */
export interface ScrapeJob {
  readonly name: string;
  readonly path: string;
  readonly targets: readonly string[];
}

export interface Prometheus {
  /** Evaluates an instant query; the sum of every series' value (0 when none). */
  query(promql: string): Promise<number>;
  /** Evaluates an instant query and returns Prometheus' whole answer (status, error, result). */
  raw(promql: string): Promise<{ status: string; error?: string; data?: { result: Array<{ metric: Record<string, string> }> } }>;
  stop(): Promise<void>;
}

/**
 * Debian's Prometheus inside one of the cluster's network namespaces (a node's reaches the nodes and every pod), on
 * that namespace's loopback only, scraping every second. Queries are sent with curl from the same namespace.
 */
export async function startPrometheus(netns: string, workDir: string, jobs: readonly ScrapeJob[]): Promise<Prometheus> {
  const config = join(workDir, 'prometheus.yml');
  const scrape = jobs
    .map(
      (j) =>
        `  - job_name: ${j.name}\n    metrics_path: ${j.path}\n    static_configs:\n      - targets: [${j.targets.map((t) => `"${t}"`).join(', ')}]\n`,
    )
    .join('');
  writeFileSync(config, `global: { scrape_interval: 1s, evaluation_interval: 1s }\nscrape_configs:\n${scrape}`);
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      netns,
      'prometheus',
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(workDir, 'prometheus-data')}`,
      '--web.listen-address=127.0.0.1:9090',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const raw = async (promql: string): ReturnType<Prometheus['raw']> => {
    const r = await run([
      'ip',
      'netns',
      'exec',
      netns,
      'curl',
      '-sS',
      '--max-time',
      '5',
      '--data-urlencode',
      `query=${promql}`,
      'http://127.0.0.1:9090/api/v1/query',
    ]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Awaited<ReturnType<Prometheus['raw']>>;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  };
  try {
    await eventually(async () => {
      const r = await run(['ip', 'netns', 'exec', netns, 'curl', '-s', 'http://127.0.0.1:9090/-/ready']);
      assert.match(r.stdout, /Ready/, log);
    }, 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    raw,
    async query(promql) {
      const body = (await raw(promql)) as unknown as { status: string; data: { result: Array<{ value: [number, string] }> } };
      assert.equal(body.status, 'success', JSON.stringify(body));
      return body.data.result.reduce((sum, x) => sum + Number(x.value[1]), 0);
    },
    stop,
  };
}

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus' text exposition format (what a /metrics endpoint serves). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include every one of `labels`. */
export function sumOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Metric families a /metrics text declares (`# TYPE` lines). */
export function declaredFamilies(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2] ?? ''),
  );
}
