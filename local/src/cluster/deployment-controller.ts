import type { Logger } from '@ambit/core';
import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { controllerRef, isControlledBy, templateHash } from './owner.ts';
import { key, splitKey, type StoreView } from './store-view.ts';
import { runController, type Controller } from './controller.ts';
import type { EventRecorder } from './events.ts';

/**
 * Deployment → ReplicaSet, as kube-controller-manager does it: one ReplicaSet per distinct pod template, named
 * `<deployment>-<pod-template-hash>`; the current one is scaled to `replicas`, older ones to 0 (a rollout that
 * replaces pods as soon as the new ones are created; local mode has no surge/unavailability budget). Status counts
 * ready pods so `kubectl get deploy` reads as in a cluster.
 */
export function startDeploymentController(view: StoreView, log: Logger, events?: EventRecorder): Controller {
  return runController(view, log, {
    name: 'deployment',
    reconcile: (k) => reconcile(view, k, events),
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

function reconcile(view: StoreView, k: string, events: EventRecorder | undefined): void {
  const [ns = '', name] = splitKey(k);
  const deploy = view.find('Deployment', ns, name);
  if (deploy === undefined || deploy.metadata.deletionTimestamp !== undefined) return;
  const spec = asRecord(deploy['spec']);
  const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  const template = asRecord(spec['template']);
  const hash = templateHash(template);
  const owned = view.list('ReplicaSet', ns).filter((rs) => isControlledBy(rs, deploy));
  // What kube-controller-manager's deployment controller says on every scale of a ReplicaSet.
  const scaled = (rs: string, from: number | undefined, to: number): void => {
    const how = from === undefined || to > from ? 'up' : 'down';
    const text = from === undefined ? `Scaled up replica set ${rs} to ${to}` : `Scaled ${how} replica set ${rs} from ${from} to ${to}`;
    events?.record(deploy, 'Normal', 'ScalingReplicaSet', text, { component: 'deployment-controller' });
  };
  const rsName = `${name}-${hash}`;
  let current = owned.find((rs) => rs.metadata.name === rsName);
  const tmeta = asRecord(template['metadata']);
  const podLabels = { ...(tmeta['labels'] as Record<string, string> | undefined), 'pod-template-hash': hash };
  if (current === undefined) {
    // The workdir annotation tells the local kubelet where relative commands are resolved; pods inherit it.
    const workdir = deploy.metadata.annotations?.['ambit.dev/workdir'];
    const podAnnotations = { ...(tmeta['annotations'] as Record<string, string> | undefined) };
    if (workdir !== undefined) podAnnotations['ambit.dev/workdir'] ??= workdir;
    current = view.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: rsName,
        namespace: ns,
        labels: podLabels,
        annotations: { 'deployment.kubernetes.io/desired-replicas': String(replicas) },
        ownerReferences: [controllerRef(deploy)],
      },
      spec: {
        replicas,
        selector: { matchLabels: { ...asRecord(asRecord(spec['selector'])['matchLabels']), 'pod-template-hash': hash } },
        template: { ...template, metadata: { ...tmeta, labels: podLabels, annotations: podAnnotations } },
      },
    });
    scaled(rsName, undefined, replicas);
  } else if (asRecord(current['spec'])['replicas'] !== replicas) {
    const from = asRecord(current['spec'])['replicas'];
    current = view.update({ ...current, spec: { ...asRecord(current['spec']), replicas } });
    scaled(rsName, typeof from === 'number' ? from : 1, replicas);
  }
  for (const old of owned) {
    const from = asRecord(old['spec'])['replicas'];
    if (old.metadata.name !== rsName && from !== 0) {
      view.update({ ...old, spec: { ...asRecord(old['spec']), replicas: 0 } });
      scaled(old.metadata.name ?? '', typeof from === 'number' ? from : 1, 0);
    }
  }
  writeStatus(view, deploy, replicas, owned.concat(owned.includes(current) ? [] : [current]), rsName);
}

function writeStatus(view: StoreView, deploy: KubeObject, replicas: number, sets: KubeObject[], currentName: string): void {
  let total = 0;
  let ready = 0;
  let updated = 0;
  for (const rs of sets) {
    const st = asRecord(rs['status']);
    const n = typeof st['replicas'] === 'number' ? st['replicas'] : 0;
    const r = typeof st['readyReplicas'] === 'number' ? st['readyReplicas'] : 0;
    total += n;
    ready += r;
    if (rs.metadata.name === currentName) updated = n;
  }
  const status = {
    observedGeneration: deploy.metadata.generation ?? 1,
    replicas: total,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: ready,
    unavailableReplicas: Math.max(0, replicas - ready),
    conditions: [
      {
        type: 'Available',
        status: ready >= replicas ? 'True' : 'False',
        reason: ready >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
      },
    ],
  };
  if (JSON.stringify(deploy['status']) !== JSON.stringify(status)) view.updateStatus({ ...deploy, status });
}
