import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import type { ProbeOutcome } from './probe-handlers.ts';
import type { ContainerProbes, ProbeKind, ProbeSpec } from './probe-spec.ts';

/**
 * The probe workers of one container, with the kubelet's semantics (pkg/kubelet/prober/worker.go):
 *
 * - each probe starts from its initial result at every run of the container (readiness Failure, liveness Success,
 *   startup Unknown) and is first made `initialDelaySeconds` after the run started, then every `periodSeconds`;
 * - a result only changes after `successThreshold` / `failureThreshold` consecutive equal outcomes;
 * - until the startup probe has succeeded, liveness and readiness are not probed (and the container is neither
 *   started nor ready); once it has, the startup probe stops and the others are probed at once;
 * - a liveness or startup result of Failure asks for a kill (`onKill`) and puts that probe on hold until the next run;
 * - every failed attempt is reported (`onAttemptFailed`: the kubelet's `Unhealthy` Event), a 3xx as a warning;
 * - while the pod terminates, liveness and startup stop (a pod being stopped is not restarted), readiness goes on.
 *
 * Differences, deliberately: the first probe is not delayed by a random part of the period (the kubelet does that
 * only right after its own restart), and a probe still running when the next is due makes that one skip.
 */

export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ContainerProberOptions {
  readonly probes: ContainerProbes;
  /** Makes one attempt; never rejects (a rejection counts as a failure with its message). */
  readonly run: (spec: ProbeSpec) => Promise<ProbeOutcome>;
  /** Readiness or started changed: the kubelet rewrites the pod's status. */
  readonly onChange: () => void;
  /** A failed attempt (`warning`: passed with a warning, as for an off-host redirect). */
  readonly onAttemptFailed: (kind: ProbeKind, outcome: ProbeOutcome) => void;
  /** Liveness or startup crossed its failure threshold: the container must be killed and restarted per policy. */
  readonly onKill: (spec: ProbeSpec) => void;
  readonly log: Logger;
  /** How long a probe "second" lasts, ms; default 1000. Tests shorten it to run a probe schedule quickly. */
  readonly secondMs?: number;
}

const INITIAL: Readonly<Record<ProbeKind, ProbeResult>> = { readiness: 'failure', liveness: 'success', startup: 'unknown' };

class ProbeWorker {
  result: ProbeResult;
  #lastOutcome: ProbeResult = 'unknown';
  #run = 0;
  #onHold = false;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = false;
  /** Bumped per container run, so an attempt that finishes after a restart is thrown away. */
  #generation = 0;

  constructor(
    readonly spec: ProbeSpec,
    private readonly owner: ContainerProber,
  ) {
    this.result = INITIAL[spec.kind];
  }

  /** A new run of the container, started at `startedAtMs`. */
  reset(startedAtMs: number): void {
    this.#generation++;
    this.result = INITIAL[this.spec.kind];
    this.#lastOutcome = 'unknown';
    this.#run = 0;
    this.#onHold = false;
    this.#schedule(Math.max(0, startedAtMs + this.spec.initialDelaySeconds * this.owner.secondMs - Date.now()));
  }

  /** The container is not running: not ready (the kubelet sets Failure), and nothing to probe until it runs again. */
  pause(): void {
    this.#generation++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.spec.kind === 'readiness') this.result = 'failure';
  }

  /** Probe now if the initial delay is over (the startup probe just passed). */
  kick(startedAtMs: number): void {
    if (this.#stopped || this.#timer === undefined) return;
    if (Date.now() >= startedAtMs + this.spec.initialDelaySeconds * this.owner.secondMs) this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#schedule(this.spec.periodSeconds * this.owner.secondMs);
    if (this.#busy || this.#onHold) return;
    const started = this.owner.startupPassed();
    if (this.spec.kind === 'startup' ? started : !started) return;
    const generation = this.#generation;
    this.#busy = true;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.owner.attempt(this.spec);
    } finally {
      this.#busy = false;
    }
    if (this.#stopped || generation !== this.#generation) return;
    if (outcome.result !== 'success') this.owner.attemptFailed(this.spec.kind, outcome);
    const result: ProbeResult = outcome.result === 'failure' ? 'failure' : 'success';
    if (result === this.#lastOutcome) this.#run++;
    else {
      this.#lastOutcome = result;
      this.#run = 1;
    }
    const threshold = result === 'failure' ? this.spec.failureThreshold : this.spec.successThreshold;
    if (this.#run < threshold) return;
    const changed = this.result !== result;
    this.result = result;
    if (result === 'failure' && this.spec.kind !== 'readiness') {
      // Stop probing until the next run: the container is about to be killed.
      this.#onHold = true;
      this.#run = 0;
      this.owner.kill(this.spec);
    }
    if (changed) this.owner.changed(this.spec.kind);
  }
}

export class ContainerProber {
  readonly #workers = new Map<ProbeKind, ProbeWorker>();
  #running = false;
  #startedAtMs = 0;
  #terminating = false;
  readonly secondMs: number;

  constructor(private readonly opts: ContainerProberOptions) {
    this.secondMs = opts.secondMs ?? 1000;
    for (const spec of [opts.probes.startup, opts.probes.liveness, opts.probes.readiness]) {
      if (spec !== undefined) this.#workers.set(spec.kind, new ProbeWorker(spec, this));
    }
  }

  /** A run of the container began at `startedAtMs` (first start or restart). */
  containerRunning(startedAtMs: number): void {
    this.#running = true;
    this.#startedAtMs = startedAtMs;
    for (const [kind, w] of this.#workers) {
      if (this.#terminating && kind !== 'readiness') continue;
      w.reset(startedAtMs);
    }
  }

  containerStopped(): void {
    this.#running = false;
    for (const w of this.#workers.values()) w.pause();
  }

  /** The pod is being deleted: no more liveness or startup probes (and so no kill), readiness continues. */
  podTerminating(): void {
    this.#terminating = true;
    this.#workers.get('liveness')?.stop();
    this.#workers.get('startup')?.stop();
  }

  stop(): void {
    for (const w of this.#workers.values()) w.stop();
  }

  /** `containerStatuses[].started`: running, and the startup probe (if any) has passed. */
  started(): boolean {
    return this.#running && this.startupPassed();
  }

  /** `containerStatuses[].ready`: started, and the readiness probe (if any) says Success. */
  ready(): boolean {
    const readiness = this.#workers.get('readiness');
    return this.started() && (readiness === undefined || readiness.result === 'success');
  }

  startupPassed(): boolean {
    const startup = this.#workers.get('startup');
    return startup === undefined || startup.result === 'success';
  }

  async attempt(spec: ProbeSpec): Promise<ProbeOutcome> {
    try {
      return await this.opts.run(spec);
    } catch (err) {
      return { result: 'failure', output: errorMessage(err) };
    }
  }

  attemptFailed(kind: ProbeKind, outcome: ProbeOutcome): void {
    this.#guard(() => this.opts.onAttemptFailed(kind, outcome));
  }

  kill(spec: ProbeSpec): void {
    this.#guard(() => this.opts.onKill(spec));
  }

  changed(kind: ProbeKind): void {
    // The startup worker keeps its timer but skips attempts while the run is started (its tick checks that).
    if (kind === 'startup' && this.startupPassed()) {
      for (const k of ['liveness', 'readiness'] as const) this.#workers.get(k)?.kick(this.#startedAtMs);
    }
    this.#guard(() => this.opts.onChange());
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err) }, 'probe callback threw');
    }
  }
}
