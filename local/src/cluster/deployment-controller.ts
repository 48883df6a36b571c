import type { Logger } from '@ambit/core';
import { FieldReader, asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { controllerRef, isControlledBy, templateHash } from './owner.ts';
import { key, nowRfc3339, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';
import type { EventRecorder } from './events.ts';
import { minReadySecondsOf, readDeploymentStrategy, resolveFenceposts, type DeploymentStrategy } from './rollout-strategy.ts';

/**
 * Deployment → ReplicaSets, as kube-controller-manager's deployment controller (pkg/controller/deployment): one
 * ReplicaSet per distinct pod template, named `<deployment>-<pod-template-hash>`.
 *
 * - RollingUpdate (rolling.go): the new ReplicaSet grows while the total stays within `replicas + maxSurge`; old ones
 *   shrink only while the *available* pods (Ready for `minReadySeconds`) stay at least `replicas - maxUnavailable`.
 *   So a new pod whose readiness probe has not passed holds the rollout, and the old pod keeps serving.
 * - Recreate (recreate.go): old ReplicaSets go to 0, and the new one is scaled up once their pods are gone.
 * - Status as kubectl reads it (`rollout status`, `get deploy`): replicas, updated/ready/available/unavailable, and the
 *   Available and Progressing conditions (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable).
 * - A rollout without progress for `progressDeadlineSeconds` (default 600) gets Progressing False with
 *   ProgressDeadlineExceeded, and `kubectl rollout status` fails.
 *
 * Not done: `paused`, revision history limits (old ReplicaSets are kept at 0), and proportional scaling of several
 * old ReplicaSets during a rollout.
 */
export function startDeploymentController(view: StoreView, log: Logger, events?: EventRecorder): Controller {
  return runController(view, log, {
    name: 'deployment',
    reconcile: (k, requeueAfter) => reconcile(view, k, events, (delayMs) => requeueAfter(k, delayMs)),
    initialKeys: () => view.list('Deployment').map(key),
    route: (e, add) => {
      if (e.object.kind === 'Deployment') add(key(e.object));
      else if (e.object.kind === 'ReplicaSet' || e.object.kind === 'Pod') {
        for (const ref of e.object.metadata.ownerReferences ?? []) {
          if (ref.kind === 'Deployment') add(`${e.object.metadata.namespace}/${ref.name}`);
          if (ref.kind === 'ReplicaSet') {
            const rs = view.find('ReplicaSet', e.object.metadata.namespace, ref.name);
            const owner = rs?.metadata.ownerReferences?.find((r) => r.kind === 'Deployment');
            if (owner !== undefined) add(`${e.object.metadata.namespace}/${owner.name}`);
          }
        }
      }
    },
  });
}

const REVISION = 'deployment.kubernetes.io/revision';

const specReplicas = (rs: KubeObject): number => {
  const n = asRecord(rs['spec'])['replicas'];
  return typeof n === 'number' ? n : 1;
};
const statusCount = (rs: KubeObject, field: string): number => {
  const n = asRecord(rs['status'])[field];
  return typeof n === 'number' ? n : 0;
};
/**
 * Available pods of a ReplicaSet, never more than it is scaled to: right after a scale-down its status still counts
 * the pods about to go, and counting them would let a second scale-down break the unavailability budget.
 */
const available = (rs: KubeObject): number => Math.min(statusCount(rs, 'availableReplicas'), specReplicas(rs));
const sum = (sets: readonly KubeObject[], f: (rs: KubeObject) => number): number => sets.reduce((n, rs) => n + f(rs), 0);

interface Rollout {
  readonly view: StoreView;
  readonly deploy: KubeObject;
  readonly replicas: number;
  readonly scale: (rs: KubeObject, to: number) => KubeObject;
}

function reconcile(view: StoreView, k: string, events: EventRecorder | undefined, requeueAfter: (delayMs: number) => void): void {
  const [ns = '', name] = splitKey(k);
  const deploy = view.find('Deployment', ns, name);
  if (deploy === undefined || deploy.metadata.deletionTimestamp !== undefined) return;
  const spec = asRecord(deploy['spec']);
  const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  // Validated at admission; a collecting reader only so that a stored object from before can never stop the loop.
  const strategy = readDeploymentStrategy(FieldReader.collecting(), spec);
  const minReadySeconds = minReadySecondsOf(spec);
  const template = asRecord(spec['template']);
  const hash = templateHash(template);
  const owned = view.list('ReplicaSet', ns).filter((rs) => isControlledBy(rs, deploy));
  const rsName = `${name}-${hash}`;
  const scale = (rs: KubeObject, to: number): KubeObject => {
    const from = specReplicas(rs);
    const rsSpec = { ...asRecord(rs['spec']), replicas: to, minReadySeconds };
    const updated = view.update({
      ...rs,
      metadata: {
        ...rs.metadata,
        annotations: { ...rs.metadata.annotations, 'deployment.kubernetes.io/desired-replicas': String(replicas) },
      },
      spec: rsSpec,
    });
    if (from !== to) {
      // What kube-controller-manager's deployment controller says on every scale of a ReplicaSet.
      const how = to > from ? 'up' : 'down';
      events?.record(deploy, 'Normal', 'ScalingReplicaSet', `Scaled ${how} replica set ${rs.metadata.name ?? ''} from ${from} to ${to}`, {
        component: 'deployment-controller',
      });
    }
    return updated;
  };
  const ctx: Rollout = { view, deploy, replicas, scale };
  let current = owned.find((rs) => rs.metadata.name === rsName);
  const old = owned.filter((rs) => rs !== current).sort(byCreation);
  let created = false;
  if (current === undefined) {
    const initial = strategy.type === 'Recreate' ? 0 : newReplicaCount(strategy, replicas, old, 0);
    current = createReplicaSet(view, deploy, rsName, hash, template, initial, minReadySeconds, nextRevision(owned));
    created = true;
    if (initial > 0) {
      events?.record(deploy, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rsName} to ${initial}`, {
        component: 'deployment-controller',
      });
    }
  } else if ((asRecord(current['spec'])['minReadySeconds'] ?? 0) !== minReadySeconds) {
    current = scale(current, specReplicas(current));
  }
  if (strategy.type === 'Recreate') recreate(ctx, current, old);
  else if (!created) rolling(ctx, strategy, current, old);
  writeStatus(view, deploy, replicas, strategy, [current, ...old], current, created, requeueAfter);
}

/** rolling.go rolloutRolling: grow the new ReplicaSet within the surge, else shrink old ones within availability. */
function rolling(ctx: Rollout, strategy: DeploymentStrategy, current: KubeObject, old: readonly KubeObject[]): void {
  const want = specReplicas(current);
  if (want > ctx.replicas) {
    ctx.scale(current, ctx.replicas);
    return;
  }
  if (want < ctx.replicas) {
    const to = newReplicaCount(strategy, ctx.replicas, old, want);
    if (to !== want) {
      ctx.scale(current, to);
      return;
    }
  }
  const oldCount = sum(old, specReplicas);
  if (oldCount === 0) return;
  const { maxUnavailable } = resolveFenceposts(strategy, ctx.replicas);
  const minAvailable = ctx.replicas - maxUnavailable;
  const all = [current, ...old];
  const newUnavailable = specReplicas(current) - available(current);
  // First old pods that are not available anyway (they cost nothing to remove), within what may go.
  let maxScaledDown = sum(all, specReplicas) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return;
  const afterCleanup: KubeObject[] = [];
  for (const rs of old) {
    const unhealthy = specReplicas(rs) - available(rs);
    const down = Math.min(unhealthy, maxScaledDown);
    if (down > 0) {
      afterCleanup.push(ctx.scale(rs, specReplicas(rs) - down));
      maxScaledDown -= down;
    } else afterCleanup.push(rs);
  }
  // Then available old pods, oldest ReplicaSet first, while availability stays at minAvailable.
  let canRemove = sum([current, ...afterCleanup], available) - minAvailable;
  for (const rs of afterCleanup) {
    if (canRemove <= 0) break;
    const down = Math.min(specReplicas(rs), canRemove);
    if (down === 0) continue;
    ctx.scale(rs, specReplicas(rs) - down);
    canRemove -= down;
  }
}

/** recreate.go: every old ReplicaSet to 0; the new one up only once no old pod is left. */
function recreate(ctx: Rollout, current: KubeObject, old: readonly KubeObject[]): void {
  for (const rs of old) if (specReplicas(rs) !== 0) ctx.scale(rs, 0);
  const ns = ctx.deploy.metadata.namespace;
  const oldPods = ctx.view.list('Pod', ns).filter((p) => old.some((rs) => isControlledBy(p, rs)));
  if (oldPods.length > 0) return;
  if (specReplicas(current) !== ctx.replicas) ctx.scale(current, ctx.replicas);
}

/** deploymentutil.NewRSNewReplicas for RollingUpdate: grow toward `replicas`, the total within replicas + maxSurge. */
function newReplicaCount(strategy: DeploymentStrategy, replicas: number, old: readonly KubeObject[], current: number): number {
  const { maxSurge } = resolveFenceposts(strategy, replicas);
  const total = sum(old, specReplicas) + current;
  const maxTotal = replicas + maxSurge;
  if (total >= maxTotal) return current;
  return current + Math.max(0, Math.min(maxTotal - total, replicas - current));
}

function nextRevision(sets: readonly KubeObject[]): number {
  return 1 + sets.reduce((m, rs) => Math.max(m, Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0), 0);
}

function createReplicaSet(
  view: StoreView,
  deploy: KubeObject,
  rsName: string,
  hash: string,
  template: Record<string, unknown>,
  replicas: number,
  minReadySeconds: number,
  revision: number,
): KubeObject {
  const spec = asRecord(deploy['spec']);
  const tmeta = asRecord(template['metadata']);
  const podLabels = { ...(tmeta['labels'] as Record<string, string> | undefined), 'pod-template-hash': hash };
  // The workdir annotation tells the local kubelet where relative commands are resolved; pods inherit it.
  const workdir = deploy.metadata.annotations?.['ambit.dev/workdir'];
  const podAnnotations = { ...(tmeta['annotations'] as Record<string, string> | undefined) };
  if (workdir !== undefined) podAnnotations['ambit.dev/workdir'] ??= workdir;
  const desired = String(asRecord(deploy['spec'])['replicas'] ?? 1);
  return view.create({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: rsName,
      namespace: deploy.metadata.namespace ?? '',
      labels: podLabels,
      annotations: { 'deployment.kubernetes.io/desired-replicas': desired, [REVISION]: String(revision) },
      ownerReferences: [controllerRef(deploy)],
    },
    spec: {
      replicas,
      minReadySeconds,
      selector: { matchLabels: { ...asRecord(asRecord(spec['selector'])['matchLabels']), 'pod-template-hash': hash } },
      template: { ...template, metadata: { ...tmeta, labels: podLabels, annotations: podAnnotations } },
    },
  });
}

function byCreation(a: KubeObject, b: KubeObject): number {
  return (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  lastUpdateTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** sync.go calculateStatus + progress.go syncRolloutStatus (without the progress deadline). */
function writeStatus(
  view: StoreView,
  deploy: KubeObject,
  replicas: number,
  strategy: DeploymentStrategy,
  sets: readonly KubeObject[],
  current: KubeObject,
  created: boolean,
  requeueAfter: (delayMs: number) => void,
): void {
  const old = asRecord(deploy['status']);
  const availableReplicas = sum(sets, (rs) => statusCount(rs, 'availableReplicas'));
  const status: Record<string, unknown> = {
    observedGeneration: deploy.metadata.generation ?? 1,
    replicas: sum(sets, (rs) => statusCount(rs, 'replicas')),
    updatedReplicas: statusCount(current, 'replicas'),
    readyReplicas: sum(sets, (rs) => statusCount(rs, 'readyReplicas')),
    availableReplicas,
    unavailableReplicas: Math.max(0, sum(sets, specReplicas) - availableReplicas),
  };
  const now = nowRfc3339();
  const prevConds = Array.isArray(old['conditions']) ? (old['conditions'] as Condition[]) : [];
  const conds = new Map(prevConds.map((c) => [c.type, c]));
  const set = (c: Omit<Condition, 'lastUpdateTime' | 'lastTransitionTime'>, touch: boolean): void => {
    const prev = conds.get(c.type);
    const same = prev !== undefined && prev.status === c.status && prev.reason === c.reason;
    conds.set(c.type, {
      ...c,
      lastUpdateTime: same && !touch ? prev.lastUpdateTime : now,
      lastTransitionTime: prev !== undefined && prev.status === c.status ? prev.lastTransitionTime : now,
    });
  };
  const { maxUnavailable } = resolveFenceposts(strategy, replicas);
  if (availableReplicas >= replicas - maxUnavailable) {
    set({ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }, false);
  } else {
    set(
      {
        type: 'Available',
        status: 'False',
        reason: 'MinimumReplicasUnavailable',
        message: 'Deployment does not have minimum availability.',
      },
      false,
    );
  }
  const rsName = current.metadata.name ?? '';
  const complete = status['updatedReplicas'] === replicas && status['replicas'] === replicas && availableReplicas === replicas;
  const progressed =
    Number(status['updatedReplicas']) > Number(old['updatedReplicas'] ?? 0) ||
    Number(status['readyReplicas']) > Number(old['readyReplicas'] ?? 0) ||
    Number(status['replicas']) < Number(old['replicas'] ?? 0) ||
    availableReplicas > Number(old['availableReplicas'] ?? 0);
  if (complete) {
    set(
      {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${rsName}" has successfully progressed.`,
      },
      false,
    );
  } else if (created) {
    set({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `Created new replica set "${rsName}"` }, true);
  } else if (progressed) {
    set({ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.` }, true);
  } else {
    // No progress: past progressDeadlineSeconds (default 600) since the last one, the rollout has timed out, which
    // `kubectl rollout status` reports as an error. A complete rollout whose pods later fail is not "stuck".
    const deadline = asRecord(deploy['spec'])['progressDeadlineSeconds'];
    const deadlineMs = (typeof deadline === 'number' ? deadline : 600) * 1000;
    const prog = conds.get('Progressing');
    const wasComplete = prog?.reason === 'NewReplicaSetAvailable' && status['replicas'] === status['updatedReplicas'];
    if (prog !== undefined && !wasComplete && prog.reason !== 'ProgressDeadlineExceeded') {
      const leftMs = Date.parse(prog.lastUpdateTime) + deadlineMs - Date.now();
      if (leftMs < 0) {
        const message = `ReplicaSet "${rsName}" has timed out progressing.`;
        set({ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message }, true);
      } else requeueAfter(leftMs + 100);
    }
  }
  // kube-controller-manager lists Available before Progressing.
  status['conditions'] = ['Available', 'Progressing'].flatMap((t) => {
    const c = conds.get(t);
    return c === undefined ? [] : [c];
  });
  if (JSON.stringify(old) !== JSON.stringify(status)) view.updateStatus({ ...deploy, status });
}
