import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { HostsEntry } from '../net/pod-sandbox.ts';

/**
 * /etc/hosts entries that stand in for cluster DNS inside a pod: every Service as `name.ns.svc.cluster.local`,
 * `name.ns.svc` and `name.ns`, and the pod's own namespace's Services by bare `name` too (nss `files` does not apply
 * resolv.conf search domains, so the short names must be literal).
 */
export function hostsFor(pod: KubeObject, services: readonly KubeObject[]): HostsEntry[] {
  const ns = pod.metadata.namespace ?? 'default';
  const entries: HostsEntry[] = [{ ip: '127.0.0.1', names: ['localhost'] }];
  const podIp = asRecord(pod['status'])['podIP'];
  if (typeof podIp === 'string') entries.push({ ip: podIp, names: [pod.metadata.name ?? ''] });
  for (const svc of services) {
    const ip = asRecord(svc['spec'])['clusterIP'];
    if (typeof ip !== 'string' || ip === 'None' || ip === '') continue;
    const name = svc.metadata.name ?? '';
    const sns = svc.metadata.namespace ?? 'default';
    const names = [`${name}.${sns}.svc.cluster.local`, `${name}.${sns}.svc`, `${name}.${sns}`];
    if (sns === ns) names.push(name);
    entries.push({ ip, names });
  }
  return entries;
}
