import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError, errorMessage, type Logger } from '@ambit/core';
import { hostPathOnNode } from '../cluster/volumes.ts';
import { ipIn, ipNetns } from './exec.ts';
import { addNetns, deleteNetns, killProcessesIn, listNetnsWithPrefix, loopbackUp } from './netns.ts';

/**
 * The sealed network of one local cluster. Every namespace hangs off the `world` namespace's underlay bridge and
 * nothing connects to the host namespace, so no packet of the cluster can reach the host or beyond; there is no
 * default route anywhere, so an address outside the cluster fails at once with "Network is unreachable".
 *
 *   world ns:  bridge `underlay` 172.28.0.1/24 ── n1 ── eth0 node1 ns (172.28.0.11, pods 10.244.1.0/24 on cni0)
 *                                              └── n2 ── eth0 node2 ns (172.28.0.12, pods 10.244.2.0/24 on cni0)
 *   driver ns: loopback only (test drivers; may be wired to the cluster later)
 */

/** One node's network: its namespace and where its CNI runtime finds config, plugins and state. */
export interface NodeNet {
  /** Kubernetes node name, `node1`…. */
  readonly name: string;
  readonly netns: string;
  /** Underlay address (no prefix length), e.g. `172.28.0.11`. */
  readonly ip: string;
  /** e.g. `10.244.1.0/24`. */
  readonly podCidr: string;
  /** The node's address on its pod bridge (cni0), e.g. `10.244.1.1`. */
  readonly podGateway: string;
  /** Holds the node's `*.conflist`, read at every pod set-up and teardown like a kubelet does (a real path). */
  readonly cniConfDir: string;
  /**
   * CNI_PATH as the plugins see it: `/usr/lib/cni` first, then the caller's extra directories, or with `nodeFiles` the
   * node's `/opt/cni/bin` (a node path).
   */
  readonly cniBinDirs: readonly string[];
  /**
   * With `nodeFiles`: the node's own directories the CNI runtime uses, node path → real path (contract 1,
   * cluster/volumes.ts hostPathOnNode); a plugin found in one of them runs with them bound at their node paths.
   */
  readonly nodeDirs?: readonly NodeDir[];
  /** With `nodeFiles`: the real path of the node's `/var/run`, whose directories (sockets of node agents) plugins see. */
  readonly nodeVarRun?: string;
  /** Cached ADD results per container (libcni's /var/lib/cni/results), for DEL and CHECK. */
  readonly cniCacheDir: string;
}

/** One directory of a node's own filesystem: where the node (and a hostPath volume) has it, and where it really is. */
export interface NodeDir {
  readonly nodePath: string;
  readonly hostPath: string;
}

export interface Topology {
  /** Every namespace of the cluster starts with this, e.g. `ambit-demo-`. */
  readonly prefix: string;
  readonly stateDir: string;
  readonly worldNs: string;
  readonly driverNs: string;
  /** ClusterIPs are allocated from here; each node routes it locally so its own traffic meets the service rules. */
  readonly serviceCidr: string;
  readonly nodes: readonly NodeNet[];
}

export interface TopologyOptions {
  /** Namespace name prefix, e.g. `ambit-demo-`: letters, digits, `.`, `_`, `-`. */
  readonly prefix: string;
  /** Number of nodes, 1…200. */
  readonly nodes: number;
  /** State directory of the cluster (CNI config, IPAM, caches live under `nodes/`). */
  readonly stateDir: string;
  readonly log: Logger;
  /** Extra CNI plugin directories, searched after `/usr/lib/cni`; default none. */
  readonly cniBinDirs?: readonly string[];
  /** Default `10.96.0.0/16`. */
  readonly serviceCidr?: string;
  /** Plugins chained after `bridge` in each node's conflist (the mesh's CNI plugin), given the node. */
  readonly chainedPlugins?: (node: NodeNet) => ReadonlyArray<Record<string, unknown>>;
  /**
   * The node's CNI files live in its own filesystem, as on a real node: the conflist (bridge + host-local only, as a
   * primary CNI writes it) at the node's `/etc/cni/net.d`, plugins searched in `/usr/lib/cni` then the node's
   * `/opt/cni/bin`, leases in the node's `/var/lib/cni/networks` — the paths a hostPath DaemonSet such as Ambit's node
   * agent (deploy/base/node-agent.yaml) writes to, so what it chains in is what runs. Default false: the conflist
   * under the state directory's `nodes/<node>/cni`, with `chainedPlugins`.
   */
  readonly nodeFiles?: boolean;
}

export const UNDERLAY_BRIDGE = 'underlay';
export const UNDERLAY_GATEWAY = '172.28.0.1';
export const POD_BRIDGE = 'cni0';
export const SYSTEM_CNI_BIN_DIR = '/usr/lib/cni';
export const CNI_CONFLIST_NAME = '10-ambit.conflist';

/** Builds the namespaces, links, addresses and routes of the cluster; on failure removes what it built and throws. */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  const { prefix, stateDir } = options;
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new AmbitError('BAD_TOPOLOGY', `bad namespace prefix "${prefix}"`);
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 200) {
    throw new AmbitError('BAD_TOPOLOGY', `node count must be 1…200, got ${String(options.nodes)}`);
  }
  const log = options.log.child({ component: 'topology' });
  const nodes = Array.from({ length: options.nodes }, (_, k) =>
    nodeNet(prefix, stateDir, k + 1, options.cniBinDirs ?? [], options.nodeFiles === true),
  );
  const topology: Topology = {
    prefix,
    stateDir,
    worldNs: `${prefix}world`,
    driverNs: `${prefix}driver`,
    serviceCidr: options.serviceCidr ?? '10.96.0.0/16',
    nodes,
  };
  const leftovers = await listNetnsWithPrefix(prefix);
  if (leftovers.length > 0) {
    // Refuse rather than clean up: they may belong to a cluster that is still running (cleanupLeftovers is explicit).
    throw new AmbitError('TOPOLOGY_EXISTS', `namespaces with prefix ${prefix} already exist: ${leftovers.join(', ')}`);
  }
  const started = Date.now();
  try {
    await createWorld(topology.worldNs);
    // Nodes are independent of each other until routes go in, so build them side by side.
    await Promise.all([
      createDriver(topology.driverNs),
      ...nodes.map((node) => createNode(topology, node, options.chainedPlugins ?? (() => []))),
    ]);
    await Promise.all(nodes.map((node) => addPodRoutes(node, nodes)));
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'topology creation failed; removing what was built');
    await destroyTopology(topology, log).catch((cleanupErr: unknown) => {
      log.error({ err: errorMessage(cleanupErr) }, 'cleanup after failed topology creation failed');
    });
    throw new AmbitError('TOPOLOGY_FAILED', `creating topology ${prefix}: ${errorMessage(err)}`, { cause: err });
  }
  log.info({ prefix, nodes: nodes.length, ms: Date.now() - started }, 'topology created');
  return topology;
}

/**
 * Removes every namespace of the topology, including pod namespaces that were not torn down (any namespace with the
 * prefix), the per-pod /etc/netns files and the CNI state. Processes still inside those namespaces are killed: the
 * topology is going away, and a process left in a deleted namespace would keep it alive unseen. Idempotent.
 */
export async function destroyTopology(topology: Topology, log?: Logger): Promise<void> {
  const names = await listNetnsWithPrefix(topology.prefix);
  const infra = new Set([topology.worldNs, topology.driverNs, ...topology.nodes.map((n) => n.netns)]);
  // Pods first, then nodes, world last: each veth pair disappears with whichever end goes first.
  const ordered = [...names.filter((n) => !infra.has(n)), ...names.filter((n) => infra.has(n) && n !== topology.worldNs)];
  if (names.includes(topology.worldNs)) ordered.push(topology.worldNs);
  for (const ns of ordered) {
    const killed = await killProcessesIn(ns);
    if (killed.length > 0) log?.warn({ netns: ns, pids: killed }, 'killed processes left in namespace');
    await deleteNetns(ns);
  }
  await removeEtcNetns(topology.prefix);
  await rm(join(topology.stateDir, 'nodes'), { recursive: true, force: true });
}

/** Removes `/etc/netns/<name>` for every name starting with `prefix`. */
export async function removeEtcNetns(prefix: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir('/etc/netns');
  } catch {
    return; // No /etc/netns at all: nothing of ours there.
  }
  await Promise.all(entries.filter((e) => e.startsWith(prefix)).map((e) => rm(join('/etc/netns', e), { recursive: true, force: true })));
}

/** A node's CNI directories in its own filesystem (containerd's defaults); `nodeFiles` of TopologyOptions. */
export const NODE_CNI_CONF_DIR = '/etc/cni/net.d';
export const NODE_CNI_BIN_DIR = '/opt/cni/bin';
const NODE_CNI_IPAM_DIR = '/var/lib/cni/networks';

function nodeNet(prefix: string, stateDir: string, index: number, extraBinDirs: readonly string[], nodeFiles: boolean): NodeNet {
  const name = `node${index}`;
  const dir = join(stateDir, 'nodes', name, 'cni');
  const nodeDirs = [NODE_CNI_CONF_DIR, NODE_CNI_BIN_DIR, NODE_CNI_IPAM_DIR].map((nodePath) => ({
    nodePath,
    hostPath: hostPathOnNode(stateDir, name, nodePath),
  }));
  return {
    name,
    netns: `${prefix}${name}`,
    ip: `172.28.0.${10 + index}`,
    podCidr: `10.244.${index}.0/24`,
    podGateway: `10.244.${index}.1`,
    cniConfDir: nodeFiles ? hostPathOnNode(stateDir, name, NODE_CNI_CONF_DIR) : join(dir, 'net.d'),
    cniBinDirs: [SYSTEM_CNI_BIN_DIR, ...(nodeFiles ? [NODE_CNI_BIN_DIR] : extraBinDirs)],
    cniCacheDir: join(dir, 'cache'),
    ...(nodeFiles ? { nodeDirs, nodeVarRun: hostPathOnNode(stateDir, name, '/var/run') } : {}),
  };
}

async function createWorld(ns: string): Promise<void> {
  await addNetns(ns);
  await loopbackUp(ns);
  await ipIn(ns, ['link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  await ipIn(ns, ['addr', 'add', `${UNDERLAY_GATEWAY}/24`, 'dev', UNDERLAY_BRIDGE]);
  await ipIn(ns, ['link', 'set', UNDERLAY_BRIDGE, 'up']);
}

async function createDriver(ns: string): Promise<void> {
  await addNetns(ns);
  await loopbackUp(ns);
}

async function createNode(
  topology: Topology,
  node: NodeNet,
  chained: (node: NodeNet) => ReadonlyArray<Record<string, unknown>>,
): Promise<void> {
  const worldPort = `n${node.name.slice('node'.length)}`;
  await addNetns(node.netns);
  await loopbackUp(node.netns);
  // Both ends are born inside our namespaces (`ip -n`, peer `netns`): no interface ever exists in the host namespace.
  await ipIn(node.netns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', worldPort, 'netns', topology.worldNs]);
  await ipIn(topology.worldNs, ['link', 'set', worldPort, 'master', UNDERLAY_BRIDGE, 'up']);
  await ipIn(node.netns, ['addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
  await ipIn(node.netns, ['link', 'set', 'eth0', 'up']);
  await ipNetns(node.netns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  // A `local` route makes the node's own connections to a ClusterIP pass the route lookup and reach the nat output
  // hook (the service DNAT), as a default route does on a real node; `src` keeps the node's underlay address as the
  // source, so replies from endpoints on other nodes come back. Unknown ClusterIPs meet the local stack: a reset.
  await ipIn(node.netns, ['route', 'add', 'local', topology.serviceCidr, 'dev', 'lo', 'src', node.ip]);
  await writeCniConfig(node, topology.stateDir, chained(node));
}

async function addPodRoutes(node: NodeNet, nodes: readonly NodeNet[]): Promise<void> {
  for (const other of nodes) {
    if (other === node) continue;
    await ipIn(node.netns, ['route', 'add', other.podCidr, 'via', other.ip, 'dev', 'eth0']);
  }
}

/** The node's CNI network: the reference bridge plugin with host-local IPAM; later plugins are appended to `plugins`. */
async function writeCniConfig(node: NodeNet, stateDir: string, chained: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  const conflist = {
    cniVersion: '1.0.0',
    name: 'ambit',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: node.podCidr, gateway: node.podGateway }]],
          // The reference plugins run without the node's view (net/cni.ts): told the real path of the node's leases.
          dataDir:
            node.nodeDirs === undefined
              ? join(stateDir, 'nodes', node.name, 'cni', 'ipam')
              : hostPathOnNode(stateDir, node.name, NODE_CNI_IPAM_DIR),
        },
      },
      ...chained,
    ],
  };
  for (const d of [node.cniConfDir, node.cniCacheDir, ...(node.nodeDirs ?? []).map((x) => x.hostPath)]) await mkdir(d, { recursive: true });
  await writeFile(join(node.cniConfDir, CNI_CONFLIST_NAME), `${JSON.stringify(conflist, null, 2)}\n`);
}
