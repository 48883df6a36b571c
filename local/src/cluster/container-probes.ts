import type { Logger } from '@ambit/core';
import { FieldReader, asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { ContainerState } from '../proc/supervisor.ts';
import type { EventType } from './events.ts';
import { runProbeHandler, type ProbeTarget } from './probe-handlers.ts';
import { readContainerProbes, type ProbeKind } from './probe-spec.ts';
import { ContainerProber } from './prober.ts';

/** What the kubelet hands over to probe one of its containers. */
export interface ContainerProbeOptions {
  readonly pod: KubeObject;
  readonly container: Record<string, unknown>;
  /** Where network probes connect from and to, and how exec probes enter the container (see ProbeTarget). */
  readonly target: Omit<ProbeTarget, 'ports'>;
  /** Records a container Event (Unhealthy, ProbeWarning, Killing). */
  readonly event: (type: EventType, reason: string, message: string) => void;
  /** Readiness or started changed. */
  readonly onChange: () => void;
  /** Ends the container's current run with this grace period; the restart policy decides what follows. */
  readonly kill: (gracePeriodMs: number) => Promise<void>;
  readonly log: Logger;
}

/** The kubelet never kills with less than this grace (minimumGracePeriodInSeconds in kuberuntime). */
const MIN_KILL_GRACE_SECONDS = 2;

const TITLE: Readonly<Record<ProbeKind, string>> = { readiness: 'Readiness', liveness: 'Liveness', startup: 'Startup' };

/**
 * The prober of one container, wired to the kubelet's Events and kill, or undefined when the container has no probe.
 * Pods are validated at admission, so a probe that does not read here is logged and left out rather than failing
 * the pod.
 */
export function createContainerProbes(opts: ContainerProbeOptions): ContainerProber | undefined {
  const name = String(opts.container['name']);
  const reader = FieldReader.collecting(`pod ${opts.pod.metadata.namespace ?? ''}/${opts.pod.metadata.name ?? ''}`);
  const probes = readContainerProbes(reader, opts.container, `container ${name}`);
  for (const p of reader.problems) opts.log.warn({ pod: reader.object, field: p.field, problem: p.message }, 'probe ignored');
  if (probes.readiness === undefined && probes.liveness === undefined && probes.startup === undefined) return undefined;
  const ports = new Map<string, number>();
  for (const p of Array.isArray(opts.container['ports']) ? opts.container['ports'] : []) {
    if (isRecord(p) && typeof p['name'] === 'string' && typeof p['containerPort'] === 'number') ports.set(p['name'], p['containerPort']);
  }
  const target: ProbeTarget = { ...opts.target, ports };
  const podGrace = asRecord(opts.pod['spec'])['terminationGracePeriodSeconds'];
  const log = opts.log.child({ pod: reader.object, container: name });
  return new ContainerProber({
    probes,
    run: (spec) => runProbeHandler(spec.handler, target, spec.timeoutSeconds * 1000),
    onChange: opts.onChange,
    onAttemptFailed: (kind, outcome) => {
      if (outcome.result === 'warning') opts.event('Warning', 'ProbeWarning', `${TITLE[kind]} probe warning: ${outcome.output}`);
      else opts.event('Warning', 'Unhealthy', `${TITLE[kind]} probe failed: ${outcome.output}`);
    },
    onKill: (spec) => {
      const seconds = spec.terminationGracePeriodSeconds ?? (typeof podGrace === 'number' ? podGrace : 30);
      opts.event('Normal', 'Killing', `Container ${name} failed ${spec.kind} probe, will be restarted`);
      log.info({ probe: spec.kind }, 'killing container after failed probe');
      void opts.kill(Math.max(seconds, MIN_KILL_GRACE_SECONDS) * 1000);
    },
    log,
  });
}

/** Tells the prober about a container state change: a new run (re)starts its probes, anything else pauses them. */
export function containerStateToProber(prober: ContainerProber | undefined, prev: ContainerState, next: ContainerState): void {
  if (prober === undefined) return;
  if (next.phase === 'running') {
    const newRun = prev.phase !== 'running' || prev.restarts !== next.restarts || prev.startedAt !== next.startedAt;
    if (newRun) prober.containerRunning(next.startedAt === undefined ? Date.now() : Date.parse(next.startedAt));
  } else {
    prober.containerStopped();
  }
}
