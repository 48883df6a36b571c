import { execFile, spawn } from 'node:child_process';
import type { Packet } from './hops.ts';

/** A running tcpdump inside a namespace; `stop()` ends it (by its PID) and resolves with what it reported. */
export interface Capture {
  readonly file: string;
  stop(): Promise<{ readonly captured: number; readonly dropped: number }>;
}

/**
 * Starts tcpdump on `iface` inside `netns`, writing `file` with nanosecond kernel timestamps. Not --immediate-mode:
 * the timestamp is the kernel's, taken when the packet passes the tap whatever tcpdump does later; immediate mode only
 * wakes tcpdump once per packet, which on 2 cores would steal CPU from the very proxies being timed. `snaplen` 0 keeps
 * whole packets (needed where TLS is decrypted); elsewhere headers are enough to match segments.
 */
export function startCapture(netns: string, iface: string, filter: string, file: string, snaplen: number): Promise<Capture> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      netns,
      'tcpdump',
      '-i',
      iface,
      '-nn',
      '-s',
      String(snaplen),
      '-B',
      '16384',
      '--time-stamp-precision=nano',
      '-w',
      file,
      filter,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<{ captured: number; dropped: number }> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    const num = (re: RegExp): number => Number(re.exec(stderr)?.[1] ?? NaN);
    return { captured: num(/(\d+) packets captured/), dropped: num(/(\d+) packets dropped by kernel/) };
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`tcpdump on ${netns}/${iface} did not start: ${stderr}`));
    }, 10_000);
    const check = (): void => {
      if (!stderr.includes('listening on')) return;
      clearTimeout(timer);
      child.stderr.off('data', check);
      resolve({ file, stop });
    };
    child.stderr.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${netns}/${iface} exited ${code}: ${stderr}`));
    });
  });
}

function tshark(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', ['-n', ...args], { maxBuffer: 1024 * 1024 * 1024, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`tshark ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** "1765130000.123456789" → µs since the epoch, without losing the fraction to a double's 53 bits first. */
function epochMicros(text: string): number {
  const [s = '0', frac = ''] = text.split('.');
  return Number(s) * 1e6 + Number(`${frac}000000000`.slice(0, 9)) / 1e3;
}

const SEGMENT_FIELDS = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'tcp.seq_raw', 'tcp.len'];
const HTTP2_FIELDS = ['http2.streamid', 'http2.type', 'http2.length', 'http2.header.count', 'http2.header.name', 'http2.header.value'];

/** One tshark pass over a capture's TCP segments with payload: one row of `fields` per segment ('|' between repeats). */
async function segmentRows(file: string, fields: readonly string[], extra: readonly string[] = []): Promise<string[][]> {
  const out = await tshark([
    '-r',
    file,
    ...extra,
    '-Y',
    'tcp.len > 0',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=|',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

function segmentOf(row: readonly string[], frames: Packet['frames']): Packet {
  const [t = '', src = '', sport = '', dst = '', dport = '', seq = '', len = ''] = row;
  return { t: epochMicros(t), src: `${src}:${sport}`, dst: `${dst}:${dport}`, seq: Number(seq), len: Number(len), frames };
}

/** Reads a capture's TCP segments with payload. */
export async function readPackets(file: string): Promise<Packet[]> {
  return (await segmentRows(file, SEGMENT_FIELDS)).map((row) => segmentOf(row, []));
}

/** An HBONE connect: the stream as `conn/stream` (conn = the client's endpoint) and the h2load connection it carries. */
export interface HboneConnect {
  readonly channel: string;
  readonly forwardedFor: string;
}

/**
 * Reads a capture of HBONE on `port`, decrypted with `keylog`, in one pass (decryption is the costly part): each
 * segment lists the HTTP/2 DATA frames it completes, and the CONNECTs sent toward `port` name, by their
 * `forwarded: for="ip:port"` header, the h2load connection each stream carries.
 */
export async function readHbone(
  file: string,
  hbone: { readonly port: number; readonly keylog: string },
): Promise<{ packets: Packet[]; connects: HboneConnect[] }> {
  const rows = await segmentRows(
    file,
    [...SEGMENT_FIELDS, ...HTTP2_FIELDS],
    ['-d', `tcp.port==${hbone.port},tls`, '-o', `tls.keylog_file:${hbone.keylog}`],
  );
  const packets: Packet[] = [];
  const connects: HboneConnect[] = [];
  for (const row of rows) {
    const [ids = '', types = '', lens = '', counts = '', names = '', values = ''] = row.slice(SEGMENT_FIELDS.length);
    // Per frame: its stream id, type and length; per HEADERS frame (in order): how many of the name/value pairs are its.
    const sid = ids.length === 0 ? [] : ids.split('|');
    const ft = types.split('|');
    const fl = lens.split('|');
    const frames: { stream: number; len: number }[] = [];
    for (let i = 0; i < sid.length; i++) if (ft[i] === '0') frames.push({ stream: Number(sid[i]), len: Number(fl[i] ?? 0) });
    const packet = segmentOf(row, frames);
    packets.push(packet);
    // Only the CONNECTs: answers carry headers too (a `date` among them), and hold no `forwarded`.
    if (!packet.dst.endsWith(`:${hbone.port}`) || counts.length === 0) continue;
    const cnt = counts.split('|').map(Number);
    const nm = names.split('|');
    const val = values.split('|');
    let h = 0;
    let k = 0;
    for (let i = 0; i < sid.length; i++) {
      if (ft[i] !== '1') continue;
      const n = cnt[k++] ?? 0;
      for (let j = h; j < h + n; j++) {
        const m = nm[j] === 'forwarded' ? /for="?([^";]+)"?/.exec(val[j] ?? '') : null;
        if (m !== null) connects.push({ channel: `${packet.src}/${sid[i]}`, forwardedFor: m[1] ?? '' });
      }
      h += n;
    }
  }
  return { packets, connects };
}
