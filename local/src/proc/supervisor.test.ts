import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { addNetns, deleteNetns, listNetnsWithPrefix, loopbackUp, pidsIn } from '../net/netns.ts';
import { tempDir, testPrefix } from '../../testing/network.ts';
import { startContainer, type ContainerHandle, type ContainerOptions, type ContainerState } from './supervisor.ts';

const prefix = testPrefix('sup');

interface Run {
  readonly handle: ContainerHandle;
  readonly states: ContainerState[];
  readonly logFile: string;
}

interface Fixture {
  readonly ns: string;
  run(opts: Partial<ContainerOptions> & Pick<ContainerOptions, 'command'>): Promise<Run>;
}

/**
 * A namespace of its own per test. One after-hook stops every container first, then fails the test if anything
 * still runs in the namespace, then removes it (node:test runs after-hooks first-registered first).
 */
async function fixture(t: TestContext, name: string): Promise<Fixture> {
  const ns = `${prefix}${name}`;
  const handles: ContainerHandle[] = [];
  await addNetns(ns);
  t.after(async () => {
    await Promise.all(handles.map((h) => h.stop(100)));
    const left = await pidsIn(ns);
    await deleteNetns(ns);
    assert.deepEqual(left, [], `processes left in ${ns}`);
    assert.deepEqual(await listNetnsWithPrefix(ns), []);
  });
  await loopbackUp(ns);
  const dir = await tempDir(t, 'sup');
  let n = 0;
  return {
    ns,
    run: async (opts) => {
      n += 1;
      const logFile = join(dir, `c${n}`, 'c.log');
      const states: ContainerState[] = [];
      const handle = startContainer({
        netns: ns,
        name: `c${n}`,
        env: {},
        cwd: dir,
        logFile,
        restartPolicy: 'Never',
        log: silentLogger(),
        onState: (s) => states.push(s),
        ...opts,
      });
      handles.push(handle);
      return { handle, states, logFile };
    },
  };
}

function lastState(r: Run): ContainerState {
  const s = r.states.at(-1);
  assert.ok(s, 'no state reported yet');
  return s;
}

test('exit codes, logs, env and namespace of a container', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/sbin/ip'] })) return;
  const { run } = await fixture(t, 'exit');
  const r = await run({
    command: ['sh', '-c', 'echo "out $GREETING $HOME $PATH"; echo err >&2; env | sort | tr "\\n" " "; echo; ip -o link | wc -l; exit 3'],
    env: { GREETING: 'hi' },
  });
  await eventually(() => assert.equal(lastState(r).phase, 'terminated'));
  assert.deepEqual(
    r.states.map((s) => s.phase),
    ['running', 'terminated'],
  );
  const end = lastState(r);
  assert.equal(end.exitCode, 3);
  assert.equal(end.reason, 'Error');
  assert.equal(end.restarts, 0);
  assert.ok(end.startedAt !== undefined && !Number.isNaN(Date.parse(end.startedAt)));
  const log = await readFile(r.logFile, 'utf8');
  assert.match(log, /^out hi \/root \/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  assert.match(log, /^err$/m);
  // Exactly the given env plus PATH and HOME (sh adds PWD; nothing of the test process leaks in).
  assert.match(log, /^GREETING=hi HOME=\/root PATH=\S+ PWD=\S+ $/m);
  // Only `lo` exists in the pod's namespace: the process really runs there.
  assert.match(log, /^1$/m);

  const ok = await run({ command: ['true'], restartPolicy: 'OnFailure' });
  await eventually(() => assert.equal(lastState(ok).phase, 'terminated'));
  assert.equal(lastState(ok).exitCode, 0);
  assert.equal(lastState(ok).reason, 'Completed');
  assert.equal(ok.handle.restarts, 0, 'OnFailure does not restart a success');
  assert.equal(ok.handle.pid(), undefined);
});

test('a command that cannot start reports terminated with StartError', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/sbin/ip'] })) return;
  const { run } = await fixture(t, 'enoent');
  const r = await run({ command: ['definitely-not-a-command-xyz'] });
  const end = lastState(r);
  assert.equal(end.phase, 'terminated');
  assert.equal(end.reason, 'StartError');
  assert.equal(end.exitCode, 128);
  assert.match(end.message ?? '', /definitely-not-a-command-xyz.*not found/);
  const badCwd = await run({ command: ['true'], cwd: '/nonexistent/dir' });
  assert.match(lastState(badCwd).message ?? '', /working directory/);
});

test('Always restarts with exponential back-off from 1 s and counts restarts', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/sbin/ip'] })) return;
  const { run } = await fixture(t, 'backoff');
  const r = await run({ command: ['sh', '-c', 'echo run; exit 1'], restartPolicy: 'Always' });
  await eventually(() => assert.equal(r.states.filter((s) => s.phase === 'terminated').length, 3), 6000);
  assert.equal(r.handle.restarts, 2);
  const starts = r.states.filter((s) => s.phase === 'running').map((s) => Date.parse(s.startedAt ?? ''));
  assert.equal(starts.length, 3);
  const [s0, s1, s2] = starts as [number, number, number];
  assert.ok(s1 - s0 >= 950 && s1 - s0 < 1800, `first back-off ~1 s, was ${s1 - s0} ms`);
  assert.ok(s2 - s1 >= 1950 && s2 - s1 < 2800, `second back-off ~2 s, was ${s2 - s1} ms`);
  assert.ok(r.states.some((s) => s.phase === 'waiting' && s.reason === 'CrashLoopBackOff'));
  assert.equal((await readFile(r.logFile, 'utf8')).match(/^run$/gm)?.length, 3, 'each run appends to the log');
  await r.handle.stop(100);
  const stoppedAt = r.handle.restarts;
  await new Promise((resolve) => setTimeout(resolve, 1200)); // no restart may follow a stop
  assert.equal(r.handle.restarts, stoppedAt);
});

test('back-off is capped and resets after a long enough run', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/sbin/ip'] })) return;
  const { run } = await fixture(t, 'cap');
  // Runs of ~150 ms with resetAfterMs 100: every run resets the delay, so restarts come at the initial delay.
  const reset = await run({
    command: ['sh', '-c', 'sleep 0.15; exit 1'],
    restartPolicy: 'Always',
    backoff: { initialMs: 200, maxMs: 1000, resetAfterMs: 100 },
  });
  const capped = await run({
    command: ['false'],
    restartPolicy: 'OnFailure',
    backoff: { initialMs: 50, maxMs: 100, resetAfterMs: 10_000 },
  });
  // assert.ok always gets a message inside eventually(): without one, each failed try makes node:assert re-read and
  // parse the test's source to describe the expression, which burns seconds of CPU per try.
  await eventually(() => assert.ok(reset.handle.restarts >= 3 && capped.handle.restarts >= 4, 'not enough restarts yet'), 5000);
  const gaps = (r: Run): number[] => {
    const t0 = r.states.filter((s) => s.phase === 'running').map((s) => Date.parse(s.startedAt ?? ''));
    return t0.slice(1).map((v, i) => v - (t0[i] ?? 0));
  };
  for (const gap of gaps(reset).slice(0, 3)) assert.ok(gap >= 340 && gap < 600, `reset back-off gap ${gap} ms`);
  const c = gaps(capped);
  assert.ok((c[2] ?? 0) < 300 && (c[3] ?? 0) < 300, `capped gaps ${c.join(',')}`);
});

test('stop: SIGTERM first, SIGKILL after the grace period for a process ignoring it', async (t) => {
  if (!requirePrivileges(t, { root: true, executables: ['/usr/sbin/ip'] })) return;
  const { ns, run } = await fixture(t, 'stop');
  const polite = await run({ command: ['sleep', '1000'], restartPolicy: 'Always' });
  const stubborn = await run({
    // The child `sleep` is in the same process group: it must go too.
    command: ['sh', '-c', 'trap "" TERM; echo ready; sleep 1000 & while :; do sleep 0.05; done'],
    restartPolicy: 'Always',
  });
  await eventually(async () => assert.match(await readFile(stubborn.logFile, 'utf8'), /ready/));
  await eventually(() => assert.equal(lastState(polite).phase, 'running'));
  const pid = polite.handle.pid();
  assert.ok(pid !== undefined && (await pidsIn(ns)).includes(pid), 'the PID is the command itself, inside the namespace');

  let started = Date.now();
  await polite.handle.stop(5000);
  assert.ok(Date.now() - started < 1000, 'a process that obeys SIGTERM stops at once');
  assert.equal(lastState(polite).exitCode, 143);

  started = Date.now();
  await stubborn.handle.stop(700);
  const took = Date.now() - started;
  assert.ok(took >= 650 && took < 2000, `SIGKILL after the grace period, took ${took} ms`);
  assert.equal(lastState(stubborn).exitCode, 137);
  assert.equal(stubborn.handle.pid(), undefined);
  await stubborn.handle.stop(700); // idempotent
  await eventually(async () => assert.deepEqual(await pidsIn(ns), []));
  assert.equal(polite.handle.restarts, 0, 'no restart after stop');
});
