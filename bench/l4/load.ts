import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { RAISED_FD_LIMIT } from './netns-process.ts';

/** Runs a program inside a pod's network namespace to completion; rejects with its output when it fails. */
function runIn(netns: string, argv: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, ...argv], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${argv.join(' ')}: ${err.message}\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface LatencyRun {
  /** The fixed rate asked for; 0 for a maximum-rate run. */
  readonly targetRps: number;
  readonly achievedRps: number;
  /** Missed its rate by more than 1% (or had failures): not counted (performance.md). */
  readonly void: boolean;
  readonly failed: number;
  /** Request latencies over the main duration, in µs. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/**
 * `h2load` at a fixed total rate split over `conns` connections (its --rps is per client), POSTing 1 KiB, with a
 * warm-up; latencies come from its per-request log, which covers the main duration only. `rps: 'max'` sends as fast
 * as the connections allow (one request in flight per connection). `protocol` (default `h1`): `h1` is HTTP/1.1
 * (`--h1`), `h2c` HTTP/2 over cleartext with prior knowledge (h2load's default for an http:// URL).
 */
export async function h2loadFixedRate(
  netns: string,
  url: string,
  o: {
    rps: number | 'max';
    conns: number;
    seconds: number;
    warmupSeconds: number;
    bodyFile: string;
    logFile: string;
    protocol?: 'h1' | 'h2c';
  },
): Promise<LatencyRun> {
  // h2load appends to its log file: start each run from an empty one.
  rmSync(o.logFile, { force: true });
  const out = await runIn(
    netns,
    [
      'h2load',
      ...((o.protocol ?? 'h1') === 'h1' ? ['--h1'] : []),
      '-t',
      '1',
      '-c',
      String(o.conns),
      ...(o.rps === 'max' ? [] : ['--rps', String(o.rps / o.conns)]),
      '-D',
      String(o.seconds),
      '--warm-up-time',
      String(o.warmupSeconds),
      '-d',
      o.bodyFile,
      '--log-file',
      o.logFile,
      url,
    ],
    (o.seconds + o.warmupSeconds + 60) * 1000,
  );
  const req = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (req === null) throw new Error(`h2load printed no request summary:\n${out}`);
  const succeeded = Number(req[2]);
  const failed = Number(req[3]) + Number(req[4]) + Number(req[5]);
  const achievedRps = succeeded / o.seconds;
  const latencies = readFileSync(o.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'))
    .filter((f) => f[1] === '200')
    .map((f) => Number(f[2]))
    .sort((a, b) => a - b);
  return {
    targetRps: o.rps === 'max' ? 0 : o.rps,
    achievedRps,
    void: (o.rps !== 'max' && achievedRps < 0.99 * o.rps) || failed > 0,
    failed,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
  };
}

/** iperf3 client for `seconds` with `streams` parallel streams; the receiver's rate, in Gbit/s. */
export async function iperf3(netns: string, host: string, port: number, streams: number, seconds: number): Promise<number> {
  const out = await runIn(
    netns,
    ['iperf3', '-c', host, '-p', String(port), '-P', String(streams), '-t', String(seconds), '-J'],
    (seconds + 30) * 1000,
  );
  const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bps = j.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error(`iperf3 gave no result: ${j.error ?? out.slice(0, 500)}`);
  return bps / 1e9;
}

export interface Transfer {
  /** Bytes the server received. */
  readonly bytes: number;
  readonly seconds: number;
  readonly gbps: number;
}

/**
 * One iperf3 transfer of a fixed size (`size` in iperf3's notation: `1G`, `200M`; powers of 1024) over one stream:
 * a control connection plus one data connection.
 */
export async function iperf3Transfer(netns: string, host: string, port: number, size: string, timeoutMs: number): Promise<Transfer> {
  const out = await runIn(netns, ['iperf3', '-c', host, '-p', String(port), '-n', size, '-J'], timeoutMs);
  const j = JSON.parse(out) as {
    end?: { sum_received?: { bytes?: number; seconds?: number; bits_per_second?: number } };
    error?: string;
  };
  const r = j.end?.sum_received;
  if (r?.bytes === undefined || r.seconds === undefined || r.bits_per_second === undefined)
    throw new Error(`iperf3 gave no result: ${j.error ?? out.slice(0, 500)}`);
  return { bytes: r.bytes, seconds: r.seconds, gbps: r.bits_per_second / 1e9 };
}

export interface ConnRate {
  readonly connsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** Connections that got their echo (the soak accounts for each one; errors are the others). */
  readonly connections: number;
}

/**
 * New connections per second (connect, 1-byte echo, close) with `concurrency` loops, from bench/apps/conn-client.mjs;
 * `maxPerSec` (default: none) caps the rate at which the loops together start connections.
 */
export async function connectionRate(
  netns: string,
  client: string,
  host: string,
  port: number,
  seconds: number,
  concurrency: number,
  maxPerSec?: number,
): Promise<ConnRate> {
  const out = await runIn(
    netns,
    [
      process.execPath,
      client,
      'rate',
      host,
      String(port),
      String(seconds),
      String(concurrency),
      ...(maxPerSec === undefined ? [] : [String(maxPerSec)]),
    ],
    (seconds + 60) * 1000,
  );
  return JSON.parse(out) as ConnRate;
}

/** Opens `count` connections that each exchanged one byte and now sit idle; `close()` ends the client. */
export function holdIdleConnections(
  netns: string,
  client: string,
  host: string,
  port: number,
  count: number,
): Promise<{ close(): Promise<void> }> {
  const child = spawn(
    'ip',
    ['netns', 'exec', netns, ...RAISED_FD_LIMIT, process.execPath, client, 'idle', host, String(port), String(count)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      void close();
      reject(new Error(`idle connections: ${count} not open after 120 s: ${err}`));
    }, 120_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"open"')) {
        clearTimeout(timer);
        resolve({ close });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`idle connection client exited ${code}: ${err}`));
    });
  });
}
