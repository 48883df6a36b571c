// Preloaded into each ztunnel by bench/l4-tail.bench.ts (NODE_OPTIONS="--import=…/probe.mjs"), never in production.
// Writes, once a second, one JSON line to /tmp/ambit-probe.jsonl (the pod's emptyDir, which the bench reads through
// /proc/<pid>/root; the names are also in bench/l4-tail/process-probes.ts):
//   {"t":<ms since epoch>,"eld":{…},"gc":[[startMs, durationMs, kind], …]}
// eld is the event-loop delay over the last second (monitorEventLoopDelay: how late its timer fired, sampled every
// 10 ms — a 1 ms timer would itself wake the proxy 1000 times a second), gc every collection that ended in it, with
// its wall-clock start, so slow requests can be matched against pauses. On demand it also takes a CPU profile: when the bench writes a number of seconds to
// /tmp/ambit-probe-profile, the probe profiles that long (100 µs sampling) and writes /tmp/ambit-probe.cpuprofile.
// A plain .mjs: it runs in the ztunnel's own Node, from the image's files, without tsx.
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const file = '/tmp/ambit-probe.jsonl';
const origin = performance.timeOrigin;
// perf_hooks' gc kinds (v8::GCType): 1 scavenge, 2 minor mark-sweep, 4 major (mark-compact), 8 incremental marking,
// 16 weak callbacks.
let gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([origin + e.startTime, e.duration, e.detail?.kind ?? 0]);
}).observe({ entryTypes: ['gc'] });

const resolutionMs = 10;
const eld = monitorEventLoopDelay({ resolution: resolutionMs });
eld.enable();

function flush() {
  // The histogram holds the timer's whole interval; what exceeds the resolution is the delay.
  const ms = (ns) => Math.max(0, Math.round(ns / 1e3) / 1e3 - resolutionMs);
  const line = {
    t: Date.now(),
    eld: { count: eld.count, p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean) },
    gc: gcs,
  };
  gcs = [];
  eld.reset();
  try {
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch {
    // A read-only or full /tmp must not take the proxy down: the bench reports missing probe data itself.
  }
}
const PROFILE_REQUEST = '/tmp/ambit-probe-profile';
let profiling = false;
function maybeProfile() {
  if (profiling) return;
  let seconds;
  try {
    seconds = Number(readFileSync(PROFILE_REQUEST, 'utf8'));
  } catch {
    return;
  }
  rmSync(PROFILE_REQUEST, { force: true });
  if (!(seconds > 0)) return;
  profiling = true;
  const session = new Session();
  session.connect();
  const done = () => {
    session.disconnect();
    profiling = false;
  };
  session.post('Profiler.enable', () =>
    session.post('Profiler.setSamplingInterval', { interval: 100 }, () =>
      session.post('Profiler.start', () => {
        setTimeout(() => {
          session.post('Profiler.stop', (err, result) => {
            if (err === null) writeFileSync('/tmp/ambit-probe.cpuprofile', JSON.stringify(result.profile));
            done();
          });
        }, seconds * 1000).unref();
      }),
    ),
  );
}

setInterval(() => {
  flush();
  maybeProfile();
}, 1000).unref();
