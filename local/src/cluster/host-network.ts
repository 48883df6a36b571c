import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsPath } from '../net/netns.ts';
import { writePodHosts, type PodRef, type PodSandbox } from '../net/pod-sandbox.ts';
import type { NodeNet } from '../net/topology.ts';

/**
 * The "sandbox" of a `hostNetwork: true` pod (contract 1): the node's own network namespace, so no namespace is
 * made and no CNI ADD/DEL runs; the pod IP is the node's. Its /etc files live in the pod's directory and reach the
 * containers only by bind mounts (`dnsPolicy: ClusterFirstWithHostNet`), never through `/etc/netns/<node>`, which
 * every command run in the node's namespace would pick up.
 */
export async function hostNetworkSandbox(node: NodeNet, pod: PodRef, podDir: string): Promise<PodSandbox> {
  const etcDir = join(podDir, 'etc');
  const sandbox: PodSandbox = {
    netns: node.netns,
    netnsPath: netnsPath(node.netns),
    ip: node.ip,
    containerId: '',
    nodeName: node.name,
    pod,
    etcDir,
  };
  await mkdir(etcDir, { recursive: true });
  // As pod-sandbox.ts: no DNS server; the hosts file (Service names) answers before any query is sent.
  await writeFile(
    join(etcDir, 'resolv.conf'),
    `search ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n`,
  );
  await writePodHosts(sandbox, []);
  return sandbox;
}
