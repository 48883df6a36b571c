// Issue 15 §3 acceptance on a 2-node local cluster: ztunnel restarted or upgraded without a dropped connection
// (contract 7). Two clients, one per node, each send 200 HTTP requests/s on new connections to the server on the
// other node, while both nodes' ztunnels are replaced the way the DaemonSet's rolling update does it (maxSurge 1:
// new ztunnel ready, then old one SIGTERMed; helpers/ztunnel-rollout.ts), then both node agents and the controller
// are restarted: not one request may fail. Long-lived connections opened before a replacement keep working until
// the old ztunnel's drain deadline, on the outbound side (node 1's ztunnel) and on the inbound side (node 2's).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths, nodeComponentPaths } from '@ambit/local';
import { controllerPaths, controllerReady } from '../../local/src/runner/controller-process.ts';
import { ZTUNNEL_DRAIN_SECONDS } from '../../local/src/runner/node-components.ts';
import { ambitctl, downAndCheckClean, fixtureCopy, pods, REPO } from './helpers/ambitctl.ts';
import { replaceZtunnel, type ZtunnelReplacement } from './helpers/ztunnel-rollout.ts';

const CLUSTER = 'it-handover';
const paths = clusterPaths(CLUSTER);
const NS = 'handover';
const RATE = 200;
const DRAIN_MS = ZTUNNEL_DRAIN_SECONDS * 1000;
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/sbin/sysctl', '/usr/sbin/ip'] };

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
}

interface HoldResult {
  readonly echoes: number;
  readonly lastEchoAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly error: string | null;
}

function pidIn(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

function logHas(file: string, pid: number, msg: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((l) => l.includes(`"pid":${pid},`) && l.includes(`"msg":"${msg}"`));
}

/** SIGTERMs the process in `pidFile` and waits for its supervisor's replacement to pass `isUp`. */
async function restart(pidFile: string, isUp: (pid: number) => boolean | Promise<boolean>): Promise<number> {
  const old = pidIn(pidFile);
  process.kill(old, 'SIGTERM');
  return eventually(async () => {
    const pid = pidIn(pidFile);
    assert.notEqual(pid, old, `${pidFile}: a new process`);
    assert.ok(await isUp(pid), `${pidFile}: pid ${pid} is up`);
    return pid;
  }, 20_000);
}

/**
 * A long-lived connection was served through the old ztunnel's drain and cut at its deadline: it carried echoes until
 * shortly before the deadline (every 50 ms; the slack is for a busy 2-core machine), it was not closed before it, and
 * it was closed by the time the old ztunnel had exited.
 */
function assertHeldUntilDrainDeadline(what: string, held: HoldResult, r: ZtunnelReplacement): void {
  const deadline = r.sigtermAtMs + DRAIN_MS;
  const detail = `(SIGTERM at 0 ms: ${JSON.stringify({ ...held, lastEchoAtMs: rel(held.lastEchoAtMs, r), closedAtMs: rel(held.closedAtMs, r) })})`;
  assert.ok(held.lastEchoAtMs !== null && held.lastEchoAtMs >= deadline - 600, `${what}: echoes went on until the deadline ${detail}`);
  assert.ok(held.closedAtMs !== null, `${what}: the old ztunnel closed it at its deadline ${detail}`);
  assert.ok(held.closedAtMs >= deadline - 100, `${what}: not closed before the ${DRAIN_MS} ms drain deadline ${detail}`);
  assert.ok(held.closedAtMs <= r.exitedAtMs + 1000, `${what}: closed by the time the old ztunnel exited ${detail}`);
}

function rel(atMs: number | null, r: ZtunnelReplacement): number | null {
  return atMs === null ? null : atMs - r.sigtermAtMs;
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

  test('both ztunnels replaced, both node agents and the controller restarted: 0 failed requests at 200/s each way; long-lived connections last until the drain deadline', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(ready, 'the cluster came up');
    const stop = join(work, 'stop');
    const app = (name: string): string => join(dir, 'apps', name);
    const loops = [
      startInPod('client1', ['node', app('loop.mjs'), ip('server2'), '8080', String(RATE), stop]),
      startInPod('client2', ['node', app('loop.mjs'), ip('server1'), '8080', String(RATE), stop]),
    ];
    const opened = (p: InPodProcess): Promise<void> => eventually(() => assert.match(p.stdout(), /^open$/m), 15_000);
    const holds: Array<{ what: string; held: Promise<string>; r: ZtunnelReplacement }> = [];
    // What was done when (ms from the start of the loops), to line failures up with.
    const startedAtMs = Date.now();
    const steps: string[] = [];
    const step = (what: string): void => void steps.push(`${Date.now() - startedAtMs} ms ${what}`);
    try {
      // Through node 1's ztunnel outbound: cut when node 1's old ztunnel reaches its deadline.
      const outboundHold = startInPod('client1', ['node', app('hold-echo.mjs'), ip('server2'), '7000', stop]);
      // Started now, connected after node 1's replacement (through the new node 1 ztunnel, into node 2's old one): cut
      // when node 2's old ztunnel reaches its deadline.
      const go = join(work, 'go');
      const inboundHold = startInPod('client1', ['node', app('hold-echo.mjs'), ip('server2'), '7000', stop, go]);
      await opened(outboundHold);
      step('replace node1 ztunnel');
      const r1 = await replaceZtunnel(CLUSTER, 'node1');
      step(`node1: old ztunnel SIGTERMed at ${r1.sigtermAtMs - startedAtMs} ms, exited`);
      writeFileSync(go, '');
      await opened(inboundHold);
      step('replace node2 ztunnel');
      const r2 = await replaceZtunnel(CLUSTER, 'node2');
      step(`node2: old ztunnel SIGTERMed at ${r2.sigtermAtMs - startedAtMs} ms, exited`);
      holds.push({ what: 'outbound long-lived connection (node1 ztunnel replaced)', held: outboundHold.done, r: r1 });
      holds.push({ what: 'inbound long-lived connection (node2 ztunnel replaced)', held: inboundHold.done, r: r2 });

      // Both node agents and the controller at once: the harshest order, and the shortest test.
      step('restart both node agents and the controller');
      const ctl = controllerPaths(paths.stateDir);
      await Promise.all([
        ...['node1', 'node2'].map((node) =>
          restart(nodeComponentPaths(paths.stateDir, node).agentPid, (pid) =>
            logHas(join(paths.logDir, 'ambit-system', `node-agent-${node}`, 'node-agent.log'), pid, 'snapshot replayed to ztunnel'),
          ),
        ),
        restart(ctl.pidFile, () => controllerReady(ctl.debugSocket)),
      ]);
      step('all back');
    } finally {
      writeFileSync(stop, '');
    }
    // Everything is reported before anything is asserted, so one run shows the whole picture.
    const results = await Promise.all(loops.map(async (l) => lastJson<LoopResult>(await l.done)));
    t.diagnostic(`steps: ${steps.join('; ')}`);
    for (const [i, r] of results.entries())
      t.diagnostic(`client${i + 1}: ${JSON.stringify({ ...r, failures: r.failures.map(([at, e]) => `${at - startedAtMs} ms ${e}`) })}`);
    const held = await Promise.all(holds.map(async (h) => ({ ...h, result: lastJson<HoldResult>(await h.held) })));
    for (const h of held)
      t.diagnostic(
        `${h.what}: ${JSON.stringify({ ...h.result, lastEchoAtMs: rel(h.result.lastEchoAtMs, h.r), closedAtMs: rel(h.result.closedAtMs, h.r) })}`,
      );
    for (const [i, r] of results.entries()) {
      assert.equal(r.failed, 0, `client${i + 1}: failed requests ${JSON.stringify(r.errors)}`);
      assert.ok(r.sent >= RATE * r.seconds * 0.9, `client${i + 1}: ${r.sent} requests in ${r.seconds} s is the rate asked`);
    }
    for (const h of held) assertHeldUntilDrainDeadline(h.what, h.result, h.r);
  });
});
