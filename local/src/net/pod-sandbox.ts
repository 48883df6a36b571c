import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError, errorMessage, type Logger } from '@ambit/core';
import { cniAdd, cniDel, podIpv4, type CniAttachment } from './cni.ts';
import { addNetns, deleteNetns, killProcessesIn, netnsPath, nsExists } from './netns.ts';
import type { NodeNet, Topology } from './topology.ts';

/**
 * A pod's sandbox: its network namespace, wired to its node by CNI, plus the per-pod /etc files that `ip netns exec`
 * bind-mounts over /etc (hosts, resolv.conf) so containers resolve Service names without a DNS server.
 */

export interface PodRef {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
}

export interface PodSandbox {
  /** Network namespace name, starting with the topology's prefix. */
  readonly netns: string;
  /** `/run/netns/<netns>`. */
  readonly netnsPath: string;
  /** The pod IP (IPv4, no prefix length). */
  readonly ip: string;
  /** CNI container id (the "pause container" id of a real kubelet). */
  readonly containerId: string;
  /** Kubernetes node name. */
  readonly nodeName: string;
  readonly pod: PodRef;
  /** `/etc/netns/<netns>`: its `hosts` and `resolv.conf` replace the pod's /etc ones. */
  readonly etcDir: string;
}

export interface HostsEntry {
  readonly ip: string;
  readonly names: readonly string[];
}

const POD_IF_NAME = 'eth0';

/**
 * Creates the pod's namespace, runs CNI ADD on its node and writes its /etc files. On any failure undoes what it
 * did (CNI DEL, namespace, files) and throws: a half-made sandbox would hold an IP and a namespace nobody tracks.
 */
export async function createPodSandbox(topology: Topology, node: NodeNet, pod: PodRef, log?: Logger): Promise<PodSandbox> {
  for (const [field, value] of Object.entries(pod)) {
    // These end up in file names, CNI_ARGS and /etc files: Kubernetes names never hold anything else.
    if (!/^[A-Za-z0-9_.-]+$/.test(value)) throw new AmbitError('SANDBOX_FAILED', `bad pod ${field} "${value}"`);
  }
  const netns = sandboxNetnsName(topology.prefix, pod);
  // Refuse rather than reuse: a namespace of that name belongs to another live sandbox, and rolling back must not
  // delete it.
  if (await nsExists(netns)) throw new AmbitError('SANDBOX_EXISTS', `sandbox namespace ${netns} already exists`);
  const containerId = randomBytes(16).toString('hex');
  const attachment = cniAttachment(netns, containerId, pod);
  const etcDir = join('/etc/netns', netns);
  const started = Date.now();
  let added = false;
  try {
    await addNetns(netns);
    added = true;
    const result = await cniAdd(node, attachment, log);
    const ip = podIpv4(result, POD_IF_NAME);
    if (ip === undefined) throw new AmbitError('SANDBOX_FAILED', `CNI result for ${netns} has no IPv4 address on ${POD_IF_NAME}`);
    const sandbox: PodSandbox = { netns, netnsPath: netnsPath(netns), ip, containerId, nodeName: node.name, pod, etcDir };
    await mkdir(etcDir, { recursive: true });
    await writeFile(join(etcDir, 'resolv.conf'), resolvConf(pod.namespace));
    await writePodHosts(sandbox, []);
    log?.info({ pod: `${pod.namespace}/${pod.name}`, node: node.name, netns, ip, ms: Date.now() - started }, 'pod sandbox created');
    return sandbox;
  } catch (err) {
    if (added) {
      await cniDel(node, attachment, log).catch((delErr: unknown) => {
        log?.warn({ netns, err: errorMessage(delErr) }, 'CNI DEL after failed sandbox creation failed');
      });
      await deleteNetns(netns).catch(() => {});
      await rm(etcDir, { recursive: true, force: true });
    }
    if (err instanceof AmbitError) throw err;
    throw new AmbitError('SANDBOX_FAILED', `creating sandbox for ${pod.namespace}/${pod.name}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * CNI DEL, then removes the namespace and its /etc files. Idempotent: a sandbox already (partly) gone is finished
 * off. Processes still inside are killed, since the namespace would otherwise live on in them; stop containers first.
 * When CNI DEL fails the namespace is still removed and the error is thrown afterwards (DEL can be retried: plugins
 * release their state even when the namespace is gone).
 */
export async function deletePodSandbox(
  topology: Topology,
  node: NodeNet,
  sandbox: PodSandbox,
  log?: Logger,
  options: { readonly networkGoing?: boolean } = {},
): Promise<void> {
  if (!sandbox.netns.startsWith(topology.prefix))
    throw new AmbitError('SANDBOX_FAILED', `BUG: ${sandbox.netns} is not in topology ${topology.prefix}`);
  let delError: unknown;
  // With the node's namespace gone (topology destroyed), or about to go with the whole cluster (`networkGoing`), there
  // is no bridge, IPAM or capture state worth releasing: what CNI DEL would undo lives in that namespace and the
  // cluster's state directory. (DEL runs two plugin processes per pod; on two cores a cluster's worth took ~2 s.)
  if (options.networkGoing !== true && (await nsExists(node.netns))) {
    try {
      await cniDel(node, cniAttachment(sandbox.netns, sandbox.containerId, sandbox.pod), log);
    } catch (err) {
      delError = err;
    }
  }
  const killed = await killProcessesIn(sandbox.netns);
  if (killed.length > 0) log?.warn({ netns: sandbox.netns, pids: killed }, 'killed processes left in pod namespace');
  await deleteNetns(sandbox.netns);
  await rm(sandbox.etcDir, { recursive: true, force: true });
  if (delError !== undefined) throw delError;
  log?.info({ pod: `${sandbox.pod.namespace}/${sandbox.pod.name}`, netns: sandbox.netns }, 'pod sandbox deleted');
}

/**
 * Rewrites the pod's hosts file with the pod's own name plus `entries`. Written in place (same inode): running
 * containers see /etc/hosts through a bind mount of this very inode, which a write-and-rename would leave behind.
 */
export async function writePodHosts(sandbox: PodSandbox, entries: readonly HostsEntry[]): Promise<void> {
  const lines = [
    '# Managed by ambit: rewritten whenever Services change.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${sandbox.ip}\t${sandbox.pod.name}`,
  ];
  for (const entry of entries) {
    for (const name of entry.names) {
      // A hosts line is whitespace-separated: a name with spaces or newlines would forge other entries.
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new AmbitError('BAD_HOSTS_ENTRY', `bad host name "${name}"`);
    }
    if (!/^[0-9a-fA-F.:]+$/.test(entry.ip)) throw new AmbitError('BAD_HOSTS_ENTRY', `bad address "${entry.ip}"`);
    if (entry.names.length > 0) lines.push(`${entry.ip}\t${entry.names.join(' ')}`);
  }
  await writeFile(join(sandbox.etcDir, 'hosts'), `${lines.join('\n')}\n`, { flag: 'w' });
}

/** A readable, unique namespace name: `<prefix>pod-<namespace>-<name>-<uid prefix>`. */
export function sandboxNetnsName(prefix: string, pod: PodRef): string {
  const clean = (s: string, max: number): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-')
      .slice(0, max);
  return `${prefix}pod-${clean(pod.namespace, 20)}-${clean(pod.name, 30)}-${clean(pod.uid, 8)}`;
}

/** `nameserver 127.0.0.1` is the pod's own loopback: no query ever leaves the pod, the hosts file answers. */
function resolvConf(namespace: string): string {
  return [`search ${namespace}.svc.cluster.local svc.cluster.local cluster.local`, 'nameserver 127.0.0.1', 'options ndots:5', ''].join(
    '\n',
  );
}

function cniAttachment(netns: string, containerId: string, pod: PodRef): CniAttachment {
  return {
    containerId,
    netns: netnsPath(netns),
    ifName: POD_IF_NAME,
    args: { K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: containerId, K8S_POD_UID: pod.uid },
  };
}
