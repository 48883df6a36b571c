import type { Logger } from '@ambit/core';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { availability, isPodUpdated, REVISION_HASH_LABEL, rollingUpdateStep, scaledValue } from './daemonset-rollout.ts';
import { syncRevisions } from './daemonset-revisions.ts';
import { pinToNode, placementOn, withDaemonTolerations, type Placement } from './node-placement.ts';
import { controllerRef, isControlledBy, templateHash } from './owner.ts';
import { isPodReady, key, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';
import type { EventRecorder } from './events.ts';

/**
 * DaemonSet → one pod per node that should run it, as kube-controller-manager's daemon controller does
 * (pkg/controller/daemon): placement by nodeSelector, required node affinity and taints/tolerations; each pod pinned to
 * its node (node affinity `metadata.name In [node]`, and `spec.nodeName` since local mode has no separate scheduler
 * to bind it); labelled `controller-revision-hash` of its template (with a ControllerRevision per template); updated
 * by `RollingUpdate` (maxUnavailable / maxSurge, see daemonset-rollout.ts) or `OnDelete`; status as `kubectl rollout
 * status ds` and `kubectl get ds` read it.
 *
 * Like the real controller, one pass either changes pods (create/delete) or advances the rollout, never both: the
 * rollout step runs only when the manage step found nothing to do (the role of the real controller's expectations),
 * and the store events of the changes bring the next pass.
 */

const COMPONENT = { component: 'daemonset-controller' };

export function startDaemonSetController(view: StoreView, log: Logger, events?: EventRecorder): Controller {
  const backoff = new Map<string, { until: number; delayMs: number }>();
  return runController(view, log, {
    name: 'daemonset',
    reconcile: (k, requeueAfter) => reconcile(view, k, { events, backoff, requeueAfter }),
    initialKeys: () => view.list('DaemonSet').map(key),
    route: (e, add) => {
      const obj = e.object;
      if (obj.kind === 'DaemonSet') add(key(obj));
      else if (obj.kind === 'Pod') {
        const ref = obj.metadata.ownerReferences?.find((r) => r.kind === 'DaemonSet' && r.controller === true);
        if (ref !== undefined) add(`${obj.metadata.namespace}/${ref.name}`);
      } else if (obj.kind === 'Node') {
        // A node added, relabelled or tainted can change where every DaemonSet runs.
        for (const ds of view.list('DaemonSet')) add(key(ds));
      }
    },
  });
}

interface Deps {
  readonly events: EventRecorder | undefined;
  /** Per `ns/ds/node`: when a failed daemon pod there may be replaced again (the real controller's failedPodsBackoff). */
  readonly backoff: Map<string, { until: number; delayMs: number }>;
  readonly requeueAfter: (key: string, delayMs: number) => void;
}

const FAILED_POD_BACKOFF_INITIAL_MS = 1000;
const FAILED_POD_BACKOFF_MAX_MS = 15 * 60_000;

function reconcile(view: StoreView, k: string, deps: Deps): void {
  const [ns = '', name] = splitKey(k);
  const ds = view.find('DaemonSet', ns, name);
  if (ds === undefined || ds.metadata.deletionTimestamp !== undefined) return;
  const spec = asRecord(ds['spec']);
  const template = asRecord(spec['template']);
  const hash = templateHash(template);
  syncRevisions(view, ds, template, hash);
  const podSpec = { ...asRecord(template['spec']), tolerations: withDaemonTolerations(asRecord(template['spec'])) };
  const nodes = view.list('Node').filter((n) => n.metadata.deletionTimestamp === undefined);
  const placement = new Map<string, Placement>(nodes.map((n) => [n.metadata.name ?? '', placementOn(podSpec, n)]));
  const minReadySeconds = typeof spec['minReadySeconds'] === 'number' ? spec['minReadySeconds'] : 0;
  const now = new Date();
  let soonestMs = Infinity;
  const isAvailable = (p: KubeObject): boolean => {
    const a = availability(p, minReadySeconds, now);
    if (!a.available && Number.isFinite(a.inMs)) soonestMs = Math.min(soonestMs, a.inMs);
    return a.available;
  };

  const podsByNode = (): Map<string, KubeObject[]> => {
    const m = new Map<string, KubeObject[]>();
    for (const p of view.list('Pod', ns)) {
      if (!isControlledBy(p, ds)) continue;
      const node = String(asRecord(p['spec'])['nodeName'] ?? '');
      m.set(node, [...(m.get(node) ?? []), p]);
    }
    for (const pods of m.values()) pods.sort(byAge);
    return m;
  };

  const changed = manage(view, ds, podsByNode(), placement, hash, deps, now, isAvailable);
  const strategy = asRecord(spec['updateStrategy']);
  if (!changed && (strategy['type'] ?? 'RollingUpdate') === 'RollingUpdate') {
    const desired = [...placement.values()].filter((p) => p.shouldRun).length;
    const rolling = asRecord(strategy['rollingUpdate']);
    let maxSurge = scaledValue(rolling['maxSurge'] ?? 0, desired) ?? 0;
    let maxUnavailable = scaledValue(rolling['maxUnavailable'] ?? 1, desired) ?? 1;
    // The real controller's guard: an impossible 0/0 budget behaves as maxUnavailable 1.
    if (desired > 0 && maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    if (maxSurge > 0) maxUnavailable = Math.max(0, maxUnavailable);
    else maxSurge = 0;
    const live = new Map<string, KubeObject[]>();
    for (const [node, pods] of podsByNode()) live.set(node, pods);
    const step = rollingUpdateStep({
      podsByNode: live,
      hash,
      maxSurge,
      maxUnavailable,
      isAvailable,
      shouldRun: (node) => placement.get(node)?.shouldRun === true,
    });
    for (const node of step.createOnNodes) createPod(view, ds, template, podSpec, node, hash, deps);
    for (const p of step.deletePods) deletePod(view, ds, p, deps);
  }
  writeStatus(view, ds, podsByNode(), placement, hash, isAvailable);
  if (Number.isFinite(soonestMs)) deps.requeueAfter(k, soonestMs + 50);
}

/**
 * `manage` + `podsShouldBeOnNode`: create missing daemon pods, delete pods on nodes that should not run one, failed
 * pods (with backoff) and surplus pods. Returns whether it changed anything.
 */
function manage(
  view: StoreView,
  ds: KubeObject,
  byNode: Map<string, KubeObject[]>,
  placement: Map<string, Placement>,
  hash: string,
  deps: Deps,
  now: Date,
  isAvailable: (p: KubeObject) => boolean,
): boolean {
  const template = asRecord(asRecord(ds['spec'])['template']);
  const podSpec = { ...asRecord(template['spec']), tolerations: withDaemonTolerations(asRecord(template['spec'])) };
  const surge = allowsSurge(ds);
  const toCreate: string[] = [];
  const toDelete: KubeObject[] = [];
  for (const [node, where] of placement) {
    const pods = byNode.get(node) ?? [];
    if (where.shouldRun && pods.length === 0) {
      toCreate.push(node);
      continue;
    }
    if (!where.shouldContinueRunning) {
      toDelete.push(...pods.filter((p) => p.metadata.deletionTimestamp === undefined));
      continue;
    }
    const running: KubeObject[] = [];
    for (const p of pods) {
      if (p.metadata.deletionTimestamp !== undefined) continue;
      const phase = asRecord(p['status'])['phase'];
      if (phase === 'Failed') {
        const bk = `${key(ds)}/${node}`;
        const b = deps.backoff.get(bk);
        if (b !== undefined && b.until > now.getTime()) {
          deps.requeueAfter(key(ds), b.until - now.getTime());
          continue;
        }
        const delayMs = Math.min(FAILED_POD_BACKOFF_MAX_MS, b === undefined ? FAILED_POD_BACKOFF_INITIAL_MS : b.delayMs * 2);
        deps.backoff.set(bk, { until: now.getTime() + delayMs, delayMs });
        deps.events?.record(
          ds,
          'Warning',
          'FailedDaemonPod',
          `Found failed daemon pod ${p.metadata.namespace}/${p.metadata.name} on node ${node}, will try to kill it`,
          COMPONENT,
        );
        toDelete.push(p);
      } else if (phase === 'Succeeded') toDelete.push(p);
      else running.push(p);
    }
    if (running.length <= 1) continue;
    if (!surge) {
      toDelete.push(...running.slice(1)); // keep the oldest
      continue;
    }
    // With surge, two pods may share a node only while the new one is not ready and the old one still serves.
    let oldestNew: KubeObject | undefined;
    let oldestOld: KubeObject | undefined;
    for (const p of running) {
      if (isPodUpdated(p, hash) && oldestNew === undefined) oldestNew = p;
      else if (!isPodUpdated(p, hash) && oldestOld === undefined) oldestOld = p;
      else toDelete.push(p);
    }
    if (oldestNew !== undefined && oldestOld !== undefined && (!isPodReady(oldestOld) || isAvailable(oldestNew))) {
      toDelete.push(oldestOld);
    }
  }
  // Nodes that are gone: their pods go too (the pod GC's job in a cluster).
  for (const [node, pods] of byNode) {
    if (!placement.has(node)) toDelete.push(...pods.filter((p) => p.metadata.deletionTimestamp === undefined));
  }
  for (const node of toCreate) createPod(view, ds, template, podSpec, node, hash, deps);
  for (const p of toDelete) deletePod(view, ds, p, deps);
  return toCreate.length > 0 || toDelete.length > 0;
}

function allowsSurge(ds: KubeObject): boolean {
  const strategy = asRecord(asRecord(ds['spec'])['updateStrategy']);
  if ((strategy['type'] ?? 'RollingUpdate') !== 'RollingUpdate') return false;
  const surge = asRecord(strategy['rollingUpdate'])['maxSurge'];
  return surge !== undefined && surge !== 0 && surge !== '0' && surge !== '0%';
}

function createPod(
  view: StoreView,
  ds: KubeObject,
  template: Record<string, unknown>,
  podSpec: Record<string, unknown>,
  node: string,
  hash: string,
  deps: Deps,
): void {
  const { name: _name, ...tmeta } = asRecord(template['metadata']);
  const annotations = { ...(tmeta['annotations'] as Record<string, string> | undefined) };
  // The workdir annotation tells the local kubelet where relative commands are resolved; pods inherit it.
  const workdir = ds.metadata.annotations?.['ambit.dev/workdir'];
  if (workdir !== undefined) annotations['ambit.dev/workdir'] ??= workdir;
  const created = view.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...structuredClone(tmeta),
      generateName: `${ds.metadata.name ?? ''}-`,
      namespace: ds.metadata.namespace ?? 'default',
      labels: { ...(tmeta['labels'] as Record<string, string> | undefined), [REVISION_HASH_LABEL]: hash },
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      ownerReferences: [controllerRef(ds)],
    },
    spec: { ...structuredClone(podSpec), affinity: pinToNode(podSpec['affinity'], node), nodeName: node },
  });
  deps.events?.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name ?? ''}`, COMPONENT);
}

function deletePod(view: StoreView, ds: KubeObject, pod: KubeObject, deps: Deps): void {
  view.remove('Pod', pod.metadata.namespace, pod.metadata.name ?? '');
  deps.events?.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name ?? ''}`, COMPONENT);
}

/** `updateDaemonSetStatus`: per node that should run the pod, its oldest daemon pod is the one counted. */
function writeStatus(
  view: StoreView,
  ds: KubeObject,
  byNode: Map<string, KubeObject[]>,
  placement: Map<string, Placement>,
  hash: string,
  isAvailable: (p: KubeObject) => boolean,
): void {
  let desired = 0;
  let current = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  let misscheduled = 0;
  for (const [node, where] of placement) {
    // Terminal pods on their way out do not count (getNodesToDaemonPods without includeDeletedTerminal).
    const pods = (byNode.get(node) ?? []).filter((p) => !(p.metadata.deletionTimestamp !== undefined && isTerminal(p)));
    const oldest = pods[0];
    if (!where.shouldRun) {
      if (oldest !== undefined) misscheduled++;
      continue;
    }
    desired++;
    if (oldest === undefined) continue;
    current++;
    if (isPodReady(oldest)) {
      ready++;
      if (isAvailable(oldest)) available++;
    }
    if (isPodUpdated(oldest, hash)) updated++;
  }
  const prior = asRecord(ds['status']);
  const status: Record<string, unknown> = {
    currentNumberScheduled: current,
    numberMisscheduled: misscheduled,
    desiredNumberScheduled: desired,
    numberReady: ready,
    observedGeneration: ds.metadata.generation ?? 1,
    updatedNumberScheduled: updated,
    numberAvailable: available,
  };
  // Zero-valued optional fields are omitted on the wire (`omitempty`), as kube-apiserver serves them.
  if (desired - available > 0) status['numberUnavailable'] = desired - available;
  if (typeof prior['collisionCount'] === 'number') status['collisionCount'] = prior['collisionCount'];
  if (isRecord(ds['status']) && JSON.stringify(prior) === JSON.stringify(status)) return;
  view.updateStatus({ ...ds, status });
}

function isTerminal(p: KubeObject): boolean {
  const phase = asRecord(p['status'])['phase'];
  return phase === 'Failed' || phase === 'Succeeded';
}

/** Oldest first; on a tie, the name (podByCreationTimestampAndPhase, minus the phase, which a tie rarely needs). */
function byAge(a: KubeObject, b: KubeObject): number {
  const c = (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
  return c !== 0 ? c : (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}
