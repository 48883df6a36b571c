import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AmbitError, asRecord, errorMessage, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { parseText, sortForApply, type SourcedObject } from '../manifest/load.ts';
import type { ManifestProblem } from '../manifest/manifest-error.ts';
import type { ObjectStore } from '../store/object-store.ts';

/** The overlay a local cluster installs Ambit from (deploy/README.md). */
export const LOCAL_OVERLAY = 'deploy/overlays/local';

/** What the local cluster changes in the rendered install for a test or a developer (each one a flag the component takes). */
export interface InstallTweaks {
  /** `--cert-ttl` of every ztunnel: short lifetimes exercise rotation. */
  readonly certTtlSeconds?: number;
  /** `--waypoint-command` of the controller (AMBIT_WAYPOINT_COMMAND): a profiler wrapper or a test's stand-in. */
  readonly waypointCommand?: string;
  /** NODE_OPTIONS of every ztunnel (AMBIT_ZTUNNEL_NODE_OPTIONS), e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it. */
  readonly ztunnelNodeOptions?: string;
}

const run = promisify(execFile);

/**
 * The overlay as `kubectl kustomize` renders it, the way a user installs it (`kubectl apply -k`), as objects ready
 * to apply; bad output is an error naming the document. kubectl is a dependency of the local cluster already.
 */
export async function renderOverlay(repoRoot: string, overlay = LOCAL_OVERLAY): Promise<SourcedObject[]> {
  const dir = join(repoRoot, overlay);
  let text: string;
  try {
    ({ stdout: text } = await run('kubectl', ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }));
  } catch (err) {
    throw new AmbitError('INSTALL_RENDER_FAILED', `kubectl kustomize ${overlay}: ${errorMessage(err)}`, { cause: err });
  }
  const problems: ManifestProblem[] = [];
  const objects = parseText(text, `${overlay} (kustomize)`, problems);
  if (problems.length > 0) {
    const first = problems[0];
    throw new AmbitError(
      'INSTALL_RENDER_FAILED',
      `${overlay} renders invalid objects: document ${String(first?.document)} ${first?.field ?? ''}: ${first?.message ?? ''}`,
    );
  }
  return sortForApply(objects.map((o) => ({ ...o, path: join(dir, 'kustomization.yaml') })));
}

/** Appends the flags of `tweaks` to the containers that take them; the objects are copied, not changed. */
export function applyTweaks(objects: readonly SourcedObject[], tweaks: InstallTweaks): SourcedObject[] {
  const add = (o: KubeObject, container: string, flags: readonly string[], env: Record<string, string> = {}): KubeObject => {
    if (flags.length === 0 && Object.keys(env).length === 0) return o;
    const copy = structuredClone(o);
    const spec = asRecord(asRecord(asRecord(copy['spec'])['template'])['spec']);
    const containers = Array.isArray(spec['containers']) ? spec['containers'].filter(isRecord) : [];
    const c = containers.find((x) => x['name'] === container);
    if (c === undefined) throw new AmbitError('INSTALL_RENDER_FAILED', `${o.kind} ${o.metadata.name ?? ''} has no container ${container}`);
    c['args'] = [...(Array.isArray(c['args']) ? c['args'] : []), ...flags];
    const vars = Object.entries(env).map(([name, value]) => ({ name, value }));
    if (vars.length > 0) c['env'] = [...(Array.isArray(c['env']) ? c['env'] : []), ...vars];
    return copy;
  };
  return objects.map((src) => {
    const o = src.object;
    if (o.kind === 'DaemonSet' && o.metadata.name === 'ztunnel')
      return {
        ...src,
        object: add(
          o,
          'ztunnel',
          tweaks.certTtlSeconds === undefined ? [] : [`--cert-ttl=${tweaks.certTtlSeconds}`],
          tweaks.ztunnelNodeOptions === undefined ? {} : { NODE_OPTIONS: tweaks.ztunnelNodeOptions },
        ),
      };
    if (o.kind === 'Deployment' && o.metadata.name === 'ambit-controller' && tweaks.waypointCommand !== undefined)
      return { ...src, object: add(o, 'controller', [`--waypoint-command=${tweaks.waypointCommand}`]) };
    return src;
  });
}

/** The rollouts `ambitctl install` waits for: the controller Deployment and the node DaemonSets. */
const ROLLOUTS = [
  { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ambit-controller' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ztunnel' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ambit-node-agent' },
] as const;

/**
 * What is not rolled out yet, as `kubectl rollout status` judges it (empty: installed): a Deployment with every
 * replica updated and available, a DaemonSet with a ready pod on every node it schedules to, each status of the
 * current generation.
 */
export function pendingRollouts(store: ObjectStore, namespace = 'ambit-system'): string[] {
  const late: string[] = [];
  for (const r of ROLLOUTS) {
    const type = store.types.byKind(r.apiVersion, r.kind);
    const obj = type === undefined ? undefined : store.find(type, namespace, r.name);
    const what = `${r.kind.toLowerCase()}/${r.name}`;
    if (obj === undefined) {
      late.push(`${what} does not exist`);
      continue;
    }
    const why = rolloutPending(obj);
    if (why !== undefined) late.push(`${what}: ${why}`);
  }
  return late;
}

/**
 * Resolves once the node-agent DaemonSet has rolled out: its readiness is ambit-cni chained into each node's CNI config
 * (deploy/base/node-agent.yaml), so pods created from then on are captured as they start, as when a user installs
 * Ambit and then their apps. Throws after `timeoutMs` saying what is late.
 */
export async function waitNodeAgents(store: ObjectStore, timeoutMs: number, namespace = 'ambit-system'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const late = pendingRollouts(store, namespace).filter((l) => l.startsWith('daemonset/ambit-node-agent'));
    if (late.length === 0) return;
    if (Date.now() > deadline)
      throw new AmbitError('CLUSTER_NOT_READY', `Ambit's node agents not ready after ${timeoutMs / 1000}s: ${late.join('; ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rolloutPending(obj: KubeObject): string | undefined {
  const st = asRecord(obj['status']);
  const num = (k: string): number => (typeof st[k] === 'number' ? st[k] : 0);
  if (typeof st['observedGeneration'] === 'number' && st['observedGeneration'] < (obj.metadata.generation ?? 0))
    return 'status is of an older generation';
  if (obj.kind === 'Deployment') {
    const want = asRecord(obj['spec'])['replicas'];
    const replicas = typeof want === 'number' ? want : 1;
    if (num('updatedReplicas') < replicas) return `${num('updatedReplicas')} of ${replicas} replicas updated`;
    if (num('availableReplicas') < replicas) return `${num('availableReplicas')} of ${replicas} replicas available`;
    return undefined;
  }
  const desired = num('desiredNumberScheduled');
  if (desired === 0) return 'no pod scheduled yet';
  if (num('updatedNumberScheduled') < desired) return `${num('updatedNumberScheduled')} of ${desired} pods updated`;
  if (num('numberAvailable') < desired) return `${num('numberAvailable')} of ${desired} pods available`;
  return undefined;
}
