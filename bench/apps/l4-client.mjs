// The client side of bench/l4-first.bench.ts, run inside a pod (unmodified app: plain node:net).
//   latency HOST PORT N      one connection; N sequential 1 KiB request/response round trips to the echo port
//                            (after its greeting line); prints {"p50":…,"p90":…,"p99":…,"mean":…} in µs.
//   throughput HOST PORT MB  one connection; streams MB MiB to the sink port, half-closes, waits for its byte count;
//                            prints {"mbPerSec":…}.
import { connect } from 'node:net';

const [mode, host, portText, nText] = process.argv.slice(2);
const port = Number(portText);
const n = Number(nText);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

if (mode === 'latency') {
  const s = connect({ host, port, noDelay: true });
  const req = Buffer.alloc(1024, 120);
  const times = [];
  let greeted = false;
  let pending = 0;
  let t0 = 0n;
  const send = () => {
    pending = req.length;
    t0 = process.hrtime.bigint();
    s.write(req);
  };
  s.on('data', (chunk) => {
    if (!greeted) {
      const nl = chunk.indexOf(10);
      if (nl < 0) return;
      greeted = true;
      chunk = chunk.subarray(nl + 1);
      send();
      if (chunk.length === 0) return;
    }
    pending -= chunk.length;
    if (pending > 0) return;
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (times.length < n) send();
    else {
      s.destroy();
      const warm = times.slice(Math.min(100, Math.floor(n / 10))).sort((a, b) => a - b);
      const mean = warm.reduce((a, b) => a + b, 0) / warm.length;
      console.log(JSON.stringify({ p50: percentile(warm, 50), p90: percentile(warm, 90), p99: percentile(warm, 99), mean }));
    }
  });
} else if (mode === 'throughput') {
  const s = connect({ host, port });
  const block = Buffer.alloc(256 * 1024, 7);
  const total = n * 1024 * 1024;
  let sent = 0;
  const started = process.hrtime.bigint();
  const pump = () => {
    while (sent < total) {
      sent += block.length;
      if (!s.write(block)) return s.once('drain', pump);
    }
    s.end();
  };
  let reply = '';
  s.on('data', (d) => (reply += d));
  s.on('end', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (Number(reply.trim()) !== total) {
      console.error(`sink received ${reply.trim()} of ${total} bytes`);
      process.exit(1);
    }
    console.log(JSON.stringify({ mbPerSec: total / 1024 / 1024 / seconds }));
  });
  s.on('connect', pump);
} else {
  console.error('usage: l4-client.mjs latency|throughput HOST PORT N');
  process.exit(2);
}
