import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { ProbeOutcome } from './probe-handlers.ts';
import type { ContainerProbes, ProbeKind, ProbeSpec } from './probe-spec.ts';
import { ContainerProber } from './prober.ts';

// The kubelet's worker rules (thresholds, startup gating, kill and hold, initial delay) on a schedule where a probe
// "second" lasts 20 ms. Each probe's outcome is whatever the test sets for its kind at the time of the attempt.

const SECOND_MS = 20;

interface Harness {
  readonly prober: ContainerProber;
  readonly attempts: ProbeKind[];
  readonly failures: string[];
  readonly kills: ProbeKind[];
  changes: number;
  set(kind: ProbeKind, result: ProbeOutcome['result']): void;
}

function spec(kind: ProbeKind, more: Partial<ProbeSpec> = {}): ProbeSpec {
  return {
    kind,
    handler: { type: 'exec', command: ['true'] },
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
    ...more,
  };
}

function harness(t: TestContext, probes: ContainerProbes): Harness {
  const outcome: Record<ProbeKind, ProbeOutcome['result']> = { readiness: 'failure', liveness: 'success', startup: 'failure' };
  const h: Harness = {
    attempts: [],
    failures: [],
    kills: [],
    changes: 0,
    set: (kind, result) => {
      outcome[kind] = result;
    },
    prober: new ContainerProber({
      probes,
      run: (s) => {
        h.attempts.push(s.kind);
        return Promise.resolve({ result: outcome[s.kind], output: `${s.kind} said ${outcome[s.kind]}` });
      },
      onChange: () => {
        h.changes++;
      },
      onAttemptFailed: (kind, o) => h.failures.push(`${kind}: ${o.output}`),
      onKill: (s) => h.kills.push(s.kind),
      log: silentLogger(),
      secondMs: SECOND_MS,
    }),
  };
  t.after(() => h.prober.stop());
  return h;
}

const count = (list: readonly string[], x: string): number => list.filter((y) => y === x).length;

test('readiness: not ready until successThreshold successes in a row, not ready again after failureThreshold failures', async (t) => {
  const h = harness(t, { readiness: spec('readiness', { successThreshold: 2, failureThreshold: 2 }) });
  assert.equal(h.prober.ready(), false, 'not running yet');
  h.prober.containerRunning(Date.now());
  assert.equal(h.prober.started(), true, 'no startup probe: started when running');
  assert.equal(h.prober.ready(), false, 'readiness starts at Failure');
  await eventually(() => assert.ok(h.failures.length >= 2, 'failed attempts are reported'));
  assert.equal(h.failures[0], 'readiness: readiness said failure');
  h.set('readiness', 'success');
  const before = h.attempts.length;
  await eventually(() => assert.equal(h.prober.ready(), true));
  assert.ok(h.attempts.length - before >= 2, 'two successes were needed');
  h.set('readiness', 'failure');
  const seen = h.attempts.length;
  await eventually(() => assert.equal(h.prober.ready(), false));
  assert.ok(h.attempts.length - seen >= 2, 'two failures were needed');
  h.prober.containerStopped();
  assert.equal(h.prober.started(), false);
});

test('a warning counts as a success and is reported', async (t) => {
  const h = harness(t, { readiness: spec('readiness') });
  h.set('readiness', 'warning');
  h.prober.containerRunning(Date.now());
  await eventually(() => assert.equal(h.prober.ready(), true));
  assert.equal(h.failures[0], 'readiness: readiness said warning');
});

test('startup gates liveness and readiness; once it passes they run at once and the startup probe stops', async (t) => {
  const h = harness(t, {
    startup: spec('startup', { failureThreshold: 1000 }),
    liveness: spec('liveness', { periodSeconds: 100 }),
    readiness: spec('readiness', { periodSeconds: 100 }),
  });
  h.set('readiness', 'success');
  h.prober.containerRunning(Date.now());
  await eventually(() => assert.ok(count(h.attempts, 'startup') >= 3, 'startup probed'));
  assert.equal(count(h.attempts, 'readiness') + count(h.attempts, 'liveness'), 0, 'nothing else before startup passed');
  assert.equal(h.prober.started(), false);
  assert.equal(h.prober.ready(), false);
  h.set('startup', 'success');
  // Period 100 "s" (2 s here): only the immediate run after startup can make them pass this quickly.
  await eventually(() => assert.equal(h.prober.ready(), true), 1000);
  assert.equal(h.prober.started(), true);
  assert.equal(count(h.attempts, 'liveness'), 1);
  const startups = count(h.attempts, 'startup');
  await new Promise((resolve) => setTimeout(resolve, 5 * SECOND_MS)); // would hold several startup periods
  assert.equal(count(h.attempts, 'startup'), startups, 'no startup probe once started');
});

test('liveness: failureThreshold failures ask for one kill, then nothing until the next run, which starts afresh', async (t) => {
  const h = harness(t, { liveness: spec('liveness', { failureThreshold: 2 }), readiness: spec('readiness') });
  h.set('readiness', 'success');
  h.prober.containerRunning(Date.now());
  await eventually(() => assert.equal(h.prober.ready(), true));
  h.set('liveness', 'failure');
  await eventually(() => assert.deepEqual(h.kills, ['liveness']));
  const attempts = count(h.attempts, 'liveness');
  await new Promise((resolve) => setTimeout(resolve, 5 * SECOND_MS));
  assert.equal(count(h.attempts, 'liveness'), attempts, 'on hold until the container restarts');
  assert.deepEqual(h.kills, ['liveness']);
  // The kill: the run ends, the next begins (readiness starts at Failure again).
  h.prober.containerStopped();
  assert.equal(h.prober.ready(), false);
  h.set('liveness', 'success');
  h.prober.containerRunning(Date.now());
  assert.equal(h.prober.ready(), false);
  await eventually(() => assert.ok(count(h.attempts, 'liveness') > attempts, 'probing resumed'));
  await eventually(() => assert.equal(h.prober.ready(), true));
  assert.deepEqual(h.kills, ['liveness']);
});

test('startup failure asks for a kill; initialDelaySeconds holds the first attempt; a terminating pod gets no liveness probe', async (t) => {
  const h = harness(t, { startup: spec('startup', { failureThreshold: 2, initialDelaySeconds: 10 }) });
  const t0 = Date.now();
  h.prober.containerRunning(t0);
  await eventually(() => assert.deepEqual(h.kills, ['startup']));
  assert.ok(Date.now() - t0 >= 10 * SECOND_MS, 'not before the initial delay');

  const live = harness(t, { liveness: spec('liveness', { failureThreshold: 1 }) });
  live.set('liveness', 'failure');
  live.prober.podTerminating();
  live.prober.containerRunning(Date.now());
  await new Promise((resolve) => setTimeout(resolve, 5 * SECOND_MS));
  assert.deepEqual(live.attempts, []);
  assert.deepEqual(live.kills, []);
});
