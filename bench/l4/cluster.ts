import { join } from 'node:path';
import { clusterPaths, type ClusterPaths } from '@ambit/local';
import { ambitctlOk, podNetns, pods } from '../../test/integration/helpers/ambitctl.ts';

/** The L4 benches' cluster (bench/l4/fixture): mesh and plain client pods on node1, their servers on node2. */
export const L4_FIXTURE = join(import.meta.dirname, 'fixture');

export interface L4Cluster {
  readonly paths: ClusterPaths;
  /** Network namespaces: the four pods' and the two nodes' (where each ztunnel pod lives). */
  readonly net: {
    readonly meshClient: string;
    readonly meshServer: string;
    readonly plainClient: string;
    readonly plainServer: string;
    readonly node1: string;
    readonly node2: string;
  };
  /** The server pods' addresses. */
  readonly meshIp: string;
  readonly plainIp: string;
}

/** Starts the fixture's 2-node cluster under `name` (with whatever AMBIT_* settings the environment holds). */
export async function startL4Cluster(name: string): Promise<L4Cluster> {
  await ambitctlOk(name, ['local', 'up', '-f', L4_FIXTURE, '--nodes', '2'], { timeoutMs: 120_000 });
  const ipOf = async (ns: string): Promise<string> => {
    const p = (await pods(name, ns)).find((x) => x.name === 'server');
    if (p === undefined) throw new Error(`no pod ${ns}/server`);
    return p.ip;
  };
  const paths = clusterPaths(name);
  return {
    paths,
    net: {
      meshClient: await podNetns(name, 'mesh', 'client'),
      meshServer: await podNetns(name, 'mesh', 'server'),
      plainClient: await podNetns(name, 'plain', 'client'),
      plainServer: await podNetns(name, 'plain', 'server'),
      node1: `${paths.prefix}node1`,
      node2: `${paths.prefix}node2`,
    },
    meshIp: await ipOf('mesh'),
    plainIp: await ipOf('plain'),
  };
}
