// The client side of the connection benchmarks (bench/l4.bench.ts), run in the client pod (plain node:net).
//   rate HOST PORT SECONDS CONCURRENCY [MAX_PER_SEC]
//                                       new connections per second: each connects, sends one byte, waits for the
//                                       echo and closes; prints {"connsPerSec":…,"p50Ms":…,"p99Ms":…,"errors":…,
//                                       "connections":…} (connections: the ones that got their echo). With
//                                       MAX_PER_SEC, the loops together start no more than that many a second.
//   idle HOST PORT N                    opens N connections (200 in flight), each answered once so the whole path is
//                                       up, prints {"open":N} and then holds them until stdin closes.
import { connect } from 'node:net';

const [mode, host, portText, aText, bText, cText] = process.argv.slice(2);
const port = Number(portText);
// A count that is not a number compares false with everything: `idle` would open connections until something broke.
for (const [name, text] of [
  ['PORT', portText],
  [mode === 'idle' ? 'N' : 'SECONDS', aText],
  ...(mode === 'rate' ? [['CONCURRENCY', bText]] : []),
]) {
  if (!/^[1-9][0-9]*$/.test(text ?? '')) {
    process.stderr.write(`conn-client: ${name} must be a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
}

function once(onDone) {
  const t0 = process.hrtime.bigint();
  const s = connect({ host, port, noDelay: true });
  let settled = false;
  const finish = (err) => {
    if (settled) return;
    settled = true;
    s.destroy();
    onDone(err, Number(process.hrtime.bigint() - t0) / 1e6);
  };
  s.once('connect', () => s.write('x'));
  s.once('data', () => finish(undefined));
  s.once('error', (err) => finish(err));
  s.once('close', () => finish(new Error('closed before the echo')));
}

if (mode === 'rate') {
  const seconds = Number(aText);
  const concurrency = Number(bText);
  const deadline = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  const times = [];
  let errors = 0;
  const maxPerSec = Number(cText ?? 0);
  const startMs = Date.now();
  let issued = 0;
  let running = concurrency;
  const loop = () => {
    if (Date.now() >= deadline) {
      running -= 1;
      if (running === 0) {
        const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
        times.sort((x, y) => x - y);
        const pct = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? NaN;
        console.log(
          JSON.stringify({ connsPerSec: times.length / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99), errors, connections: times.length }),
        );
      }
      return;
    }
    if (maxPerSec > 0) {
      // Starts are spaced on one schedule shared by the loops, so the cap holds whatever the concurrency.
      const waitMs = startMs + (issued * 1000) / maxPerSec - Date.now();
      if (waitMs > 0) {
        setTimeout(loop, waitMs);
        return;
      }
    }
    issued += 1;
    once((err, ms) => {
      if (err === undefined) times.push(ms);
      else errors += 1;
      setImmediate(loop);
    });
  };
  for (let i = 0; i < concurrency; i++) loop();
} else if (mode === 'idle') {
  const total = Number(aText);
  const sockets = [];
  let started = 0;
  let answered = 0;
  const next = () => {
    if (started >= total) return;
    started += 1;
    const s = connect({ host, port });
    sockets.push(s);
    s.once('data', () => {
      answered += 1;
      if (answered === total) console.log(JSON.stringify({ open: total }));
      next();
    });
    s.once('connect', () => s.write('x'));
    s.on('error', (err) => {
      console.error(`connection ${sockets.length}: ${err.message}`);
      process.exit(1);
    });
  };
  for (let i = 0; i < 200; i++) next();
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
} else {
  console.error('usage: conn-client.mjs rate HOST PORT SECONDS CONCURRENCY [MAX_PER_SEC] | idle HOST PORT N');
  process.exit(2);
}
