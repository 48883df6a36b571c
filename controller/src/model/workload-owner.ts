import type { WorkloadType } from './core-model.ts';
import type { PodView } from './kube-objects.ts';
import { CANONICAL_NAME_LABELS, CANONICAL_REVISION_LABELS, firstLabel, POD_TEMPLATE_HASH_LABEL } from './labels.ts';

export interface WorkloadOwner {
  readonly workloadType: WorkloadType;
  readonly workloadName: string;
}

// Jobs made by a CronJob are named `<cronjob>-<scheduled time in minutes>`: Istio's pattern is 8–10 digits.
const CRONJOB_JOB_NAME = /^(.+)-\d{8,10}$/;

/**
 * The workload a pod belongs to, walking one step up its controller (Istio's GetDeployMetaFromPod): a ReplicaSet
 * named `<deployment>-<pod-template-hash>` is a Deployment's; a Job named like a CronJob's is the CronJob's. Other
 * controllers (StatefulSet, DaemonSet, a bare ReplicaSet) name the workload but have no WDS type of their own: POD.
 */
export function workloadOwner(pod: PodView): WorkloadOwner {
  const refs = pod.meta.ownerReferences;
  const owner = refs.find((r) => r.controller) ?? refs[0];
  if (owner === undefined) return { workloadType: 'POD', workloadName: pod.meta.name };
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.meta.labels[POD_TEMPLATE_HASH_LABEL];
    if (hash !== undefined && hash !== '' && owner.name.endsWith(`-${hash}`)) {
      return { workloadType: 'DEPLOYMENT', workloadName: owner.name.slice(0, -(hash.length + 1)) };
    }
    return { workloadType: 'POD', workloadName: owner.name };
  }
  if (owner.kind === 'Job') {
    const cron = CRONJOB_JOB_NAME.exec(owner.name);
    if (cron?.[1] !== undefined) return { workloadType: 'CRONJOB', workloadName: cron[1] };
    return { workloadType: 'JOB', workloadName: owner.name };
  }
  return { workloadType: 'POD', workloadName: owner.name };
}

/** Istio's canonical service labels, falling back to the workload name and `latest` as Istio does. */
export function canonicalNames(
  labels: Readonly<Record<string, string>>,
  workloadName: string,
): { canonicalName: string; canonicalRevision: string } {
  return {
    canonicalName: firstLabel(labels, CANONICAL_NAME_LABELS) ?? workloadName,
    canonicalRevision: firstLabel(labels, CANONICAL_REVISION_LABELS) ?? 'latest',
  };
}
