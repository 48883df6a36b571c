// Issue 15 §3 acceptance on a 2-node local cluster that installs Ambit from deploy/ (AMBIT_LOCAL_INSTALL=manifests):
// ztunnel restarted or upgraded without a dropped connection (contract 7). Two clients, one per node, each send 200
// HTTP requests/s on new connections to the server on the other node, while the operator runs `kubectl rollout
// restart ds/ztunnel` (maxSurge 1: per node the new ztunnel turns ready, then the old one is SIGTERMed and drains),
// then `kubectl rollout restart` of the controller Deployment and of the node-agent DaemonSet: not one request may fail.
// Long-lived connections open across the restart keep working until the drain deadline of the first old ztunnel
// they pass, one on its outbound side and one on its inbound side (helpers/ztunnel-rollout.ts reads when it stopped).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { ambitctl, downAndCheckClean, fixtureCopy, pods, REPO, run } from './helpers/ambitctl.ts';
import { watchOldZtunnels, ztunnelDrainSeconds, type OldZtunnel } from './helpers/ztunnel-rollout.ts';

const CLUSTER = 'it-handover';
const paths = clusterPaths(CLUSTER);
const NS = 'handover';
const RATE = 200;
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/sbin/sysctl', '/usr/sbin/ip', '/usr/bin/kubectl'] };

let dir = '';
let work = '';
let ready = false;
const podIp = new Map<string, string>();

function ip(pod: string): string {
  const found = podIp.get(pod);
  assert.ok(found !== undefined, `pod ${pod} has an IP`);
  return found;
}

interface InPodProcess {
  /** What it printed so far. */
  stdout(): string;
  /** Resolves with its whole output once it exited 0; rejects with its output otherwise. */
  readonly done: Promise<string>;
}

/** A process inside a pod (`ambitctl local exec`), its output followed while it runs. */
function startInPod(pod: string, argv: readonly string[]): InPodProcess {
  const child = spawn(process.execPath, [join(REPO, 'cli', 'bin', 'ambitctl.js'), 'local', 'exec', '-n', NS, pod, '--', ...argv], {
    cwd: REPO,
    env: { ...process.env, AMBIT_CLUSTER: CLUSTER },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} in ${pod} exited ${String(code)}: ${err}${out}`)),
    );
  });
  return { stdout: () => out, done };
}

function lastJson<T>(text: string): T {
  const line = text.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

interface LoopResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly errors: Record<string, number>;
  readonly seconds: number;
  /** The first failures: [sentAtMs, error]. */
  readonly failures: ReadonlyArray<readonly [number, string]>;
  /** The first times the client itself did not run for over 1 s: [resumedAtMs, gapMs]. */
  readonly stalls: ReadonlyArray<readonly [number, number]>;
}

interface HoldResult {
  readonly echoes: number;
  readonly lastEchoAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly error: string | null;
}

/** `kubectl -n ambit-system …` against the test cluster, as an operator runs it; fails with its output. */
async function kubectl(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const r = await run(['kubectl', '--kubeconfig', paths.kubeconfig, '-n', 'ambit-system', ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `kubectl rollout restart`, then `kubectl rollout status` until every replica runs the new template. */
async function rolloutRestart(what: string): Promise<void> {
  await kubectl(['rollout', 'restart', what]);
  await kubectl(['rollout', 'status', what, '--timeout=120s'], 130_000);
}

/**
 * A long-lived connection was served through the old ztunnel's drain and cut at its deadline: it carried echoes until
 * shortly before the deadline (every 50 ms; the slack is for a busy 2-core machine), it was not closed before it, and
 * it was closed by the time the old ztunnel had exited.
 */
function assertHeldUntilDrainDeadline(what: string, held: HoldResult, old: OldZtunnel, drainMs: number): void {
  const deadline = old.sigtermAtMs + drainMs;
  const detail = `(SIGTERM at 0 ms, exited at ${old.exitedAtMs - old.sigtermAtMs} ms: ${holdJson(held, old)})`;
  assert.ok(held.lastEchoAtMs !== null && held.lastEchoAtMs >= deadline - 600, `${what}: echoes went on until the deadline ${detail}`);
  assert.ok(held.closedAtMs !== null, `${what}: the old ztunnel closed it at its deadline ${detail}`);
  assert.ok(held.closedAtMs >= deadline - 100, `${what}: not closed before the ${drainMs} ms drain deadline ${detail}`);
  assert.ok(held.closedAtMs <= old.exitedAtMs + 1000, `${what}: closed by the time the old ztunnel exited ${detail}`);
}

/** The hold's result with its times from the old ztunnel's SIGTERM. */
function holdJson(held: HoldResult, old: OldZtunnel): string {
  const rel = (atMs: number | null): number | null => (atMs === null ? null : atMs - old.sigtermAtMs);
  return JSON.stringify({ ...held, lastEchoAtMs: rel(held.lastEchoAtMs), closedAtMs: rel(held.closedAtMs) });
}

describe('ztunnel hand-over: rolling replacement under load', { concurrency: false }, () => {
  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('ztunnel-handover');
    work = mkdtempSync(join(tmpdir(), 'ambit-handover-'));
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    for (const p of await pods(CLUSTER, NS)) podIp.set(p.name, p.ip);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    if (process.env['AMBIT_KEEP_LOGS'] !== undefined) cpSync(paths.logDir, process.env['AMBIT_KEEP_LOGS'], { recursive: true });
    await downAndCheckClean(CLUSTER, dir, work);
  });

  test('kubectl rollout restart of ztunnel, then of the controller and the node agents: 0 failed requests at 200/s each way; long-lived connections last until the drain deadline', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(ready, 'the cluster came up');
    const drainMs = (await ztunnelDrainSeconds(paths)) * 1000;
    const stop = join(work, 'stop');
    const app = (name: string): string => join(dir, 'apps', name);
    const loops = [
      startInPod('client1', ['node', app('loop.mjs'), ip('server2'), '8080', String(RATE), stop]),
      startInPod('client2', ['node', app('loop.mjs'), ip('server1'), '8080', String(RATE), stop]),
    ];
    const opened = (p: InPodProcess): Promise<void> => eventually(() => assert.match(p.stdout(), /^open$/m), 15_000);
    // Each crosses both nodes' ztunnels (its source node's outbound side, its destination node's inbound side), so
    // whichever node the DaemonSet controller replaces first, its old ztunnel carries one of them on each side, and
    // both are cut at that ztunnel's drain deadline.
    const holds = [
      {
        from: 'client1',
        fromNode: 'node1',
        to: 'server2',
        run: startInPod('client1', ['node', app('hold-echo.mjs'), ip('server2'), '7000', stop]),
      },
      {
        from: 'client2',
        fromNode: 'node2',
        to: 'server1',
        run: startInPod('client2', ['node', app('hold-echo.mjs'), ip('server1'), '7000', stop]),
      },
    ];
    // What was done when (ms from the start of the loops), to line failures up with.
    const startedAtMs = Date.now();
    const steps: string[] = [];
    const step = (what: string): void => void steps.push(`${Date.now() - startedAtMs} ms ${what}`);
    let olds: OldZtunnel[];
    try {
      await Promise.all(holds.map((h) => opened(h.run)));
      step(`long-lived connections open; load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
      // The old ztunnels drain for up to drainMs each, one node after the other (maxSurge 1).
      const old = watchOldZtunnels(paths, ['node1', 'node2'], 2 * drainMs + 90_000);
      step('kubectl rollout restart ds/ztunnel');
      await kubectl(['rollout', 'restart', 'ds/ztunnel']);
      // The roll-out completes once the old pods are gone, i.e. after their drain (as kube's DaemonSet status counts
      // a node updated only when its oldest pod is): the controller and then the node agents are restarted meanwhile,
      // as soon as every node's new ztunnel is ready and its old one draining, which keeps the test short. One after
      // the other, as an operator would: on two busy cores, starting both at once (and a new ztunnel just before) stalls
      // every proxy for seconds, which would measure the machine rather than the hand-over.
      const ztunnelRolledOut = kubectl(['rollout', 'status', 'ds/ztunnel', '--timeout=120s'], 130_000).then(() =>
        step('ztunnel rolled out'),
      );
      ztunnelRolledOut.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      await old.stopping;
      step('every node: new ztunnel ready, old one draining; kubectl rollout restart deploy/ambit-controller');
      await rolloutRestart('deploy/ambit-controller');
      step('controller rolled out; kubectl rollout restart ds/ambit-node-agent');
      await rolloutRestart('ds/ambit-node-agent');
      step('node agents rolled out');
      await ztunnelRolledOut;
      olds = await old.exited;
      for (const o of olds)
        step(`${o.node}: old ztunnel ${o.pod} SIGTERMed at ${o.sigtermAtMs - startedAtMs} ms, exited at ${o.exitedAtMs - startedAtMs} ms`);
    } finally {
      writeFileSync(stop, '');
    }
    // Everything is reported before anything is asserted, so one run shows the whole picture.
    const results = await Promise.all(loops.map(async (l) => lastJson<LoopResult>(await l.done)));
    t.diagnostic(
      `steps (from ${new Date(startedAtMs).toISOString()}): ${steps.join('; ')}; load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
    );
    for (const [i, r] of results.entries())
      t.diagnostic(
        `client${i + 1}: ${JSON.stringify({
          ...r,
          failures: r.failures.map(([at, e]) => `${at - startedAtMs} ms ${e}`),
          stalls: r.stalls.map(([at, gap]) => `${at - startedAtMs} ms after ${gap} ms`),
        })}`,
      );
    const first = olds[0];
    assert.ok(first !== undefined, 'an old ztunnel was replaced');
    const held = await Promise.all(
      holds.map(async (h) => {
        const side = `${h.from} → ${h.to}, through ${first.node}'s old ztunnel ${h.fromNode === first.node ? 'outbound' : 'inbound'}`;
        return { what: `long-lived connection ${side}`, result: lastJson<HoldResult>(await h.run.done) };
      }),
    );
    for (const h of held) t.diagnostic(`${h.what}: ${holdJson(h.result, first)}`);
    for (const [i, r] of results.entries()) {
      assert.equal(r.failed, 0, `client${i + 1}: failed requests ${JSON.stringify(r.errors)}`);
      assert.ok(r.sent >= RATE * r.seconds * 0.9, `client${i + 1}: ${r.sent} requests in ${r.seconds} s is the rate asked`);
    }
    for (const h of held) assertHeldUntilDrainDeadline(h.what, h.result, first, drainMs);
  });
});
