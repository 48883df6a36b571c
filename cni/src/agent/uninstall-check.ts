// On SIGTERM the agent must tell an uninstall from a restart: an upgrade (`kubectl rollout restart`, a new image), an
// eviction or a node drain stop the agent too, and then every pod must stay captured for the next agent to take over
// (cni/README.md "Node agent"). Istio's node agent makes the same call (istio/istio cni/pkg/nodeagent: on shutdown it
// looks at its own DaemonSet): the agent's pod is owned by a DaemonSet; if that DaemonSet is gone (a background
// delete removed it before the pods) or has a deletionTimestamp (a foreground delete, as `ambitctl uninstall` does,
// deletes the pods first), Ambit is being removed from the node. Anything else, including not knowing (API down, no
// owner), keeps the pods captured: un-capturing by mistake would let meshed pods talk in plaintext, while a missed
// uninstall only leaves rules the next install takes over.
import { errorMessage, isRecord, type Logger } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';

export type RemovalVerdict = { readonly removing: true; readonly reason: string } | { readonly removing: false; readonly reason: string };

/** Reads the agent's pod, then the DaemonSet that owns it (RBAC: get pods; get daemonsets in the pod's namespace). */
export async function daemonSetRemoval(
  client: KubeClient,
  podNamespace: string,
  podName: string,
  log: Logger,
  timeoutMs = 3000,
): Promise<RemovalVerdict> {
  const ns = encodeURIComponent(podNamespace);
  let pod: unknown;
  try {
    pod = await client.get<unknown>(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(podName)}`, timeoutMs);
  } catch (err) {
    return keep(log, `cannot read this agent's pod ${podNamespace}/${podName}: ${errorMessage(err)}`);
  }
  const owners = isRecord(pod) && isRecord(pod['metadata']) ? pod['metadata']['ownerReferences'] : undefined;
  const owner = Array.isArray(owners)
    ? owners.find((o: unknown) => isRecord(o) && o['kind'] === 'DaemonSet' && typeof o['name'] === 'string' && o['controller'] === true)
    : undefined;
  if (!isRecord(owner)) return keep(log, `pod ${podNamespace}/${podName} is not controlled by a DaemonSet`);
  const dsName = String(owner['name']);
  const what = `DaemonSet ${podNamespace}/${dsName}`;
  let ds: unknown;
  try {
    ds = await client.get<unknown>(`/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(dsName)}`, timeoutMs);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return { removing: true, reason: `${what} is gone` };
    return keep(log, `cannot read ${what}: ${errorMessage(err)}`);
  }
  const meta = isRecord(ds) && isRecord(ds['metadata']) ? ds['metadata'] : {};
  if (owner['uid'] !== undefined && meta['uid'] !== owner['uid'])
    return { removing: true, reason: `${what} was deleted (a new one has another uid)` };
  if (typeof meta['deletionTimestamp'] === 'string')
    return { removing: true, reason: `${what} is being deleted since ${meta['deletionTimestamp']}` };
  return { removing: false, reason: `${what} still exists: a restart or upgrade` };
}

function keep(log: Logger, reason: string): RemovalVerdict {
  log.warn({ reason }, 'cannot tell whether Ambit is being uninstalled; keeping every pod captured');
  return { removing: false, reason };
}
