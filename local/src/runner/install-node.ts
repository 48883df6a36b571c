import { dirname, join } from 'node:path';
import { hostPathOnNode } from '../cluster/volumes.ts';
import type { LocalImage } from '../cluster/container-spec.ts';
import { nodeKubeconfigPath } from './node-api.ts';

/** The repository of Ambit's one image (Dockerfile; deploy/ names it with a tag). */
export const AMBIT_IMAGE = 'ghcr.io/ambit-dev/ambit';

/**
 * The images a local node "has" (contract 2): Ambit's image is this checkout, its ENTRYPOINT deploy/image/ambit with
 * AMBIT_HOME pointing here, so the manifests' containers (`args: [ztunnel, …]`) run this build. PATH starts with the
 * runner's Node (the project's Node 24), as the image's PATH finds its Node first; USER 10001 as the Dockerfile's.
 */
export function localImages(repoRoot: string): Record<string, LocalImage> {
  return {
    [AMBIT_IMAGE]: {
      entrypoint: [join(repoRoot, 'deploy', 'image', 'ambit')],
      env: { AMBIT_HOME: repoRoot, PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
      user: 10001,
      group: 10001,
    },
  };
}

/**
 * The `ambit-cni` entry chained after `bridge` when Ambit is installed from the manifests: the node-agent DaemonSet
 * serves the plugin on `/var/run/ambit/agent.sock` of its node (deploy/base/node-agent.yaml `--cni-socket`), a
 * hostPath. The plugin runs in the node's namespace and reads the API with the node's kubeconfig.
 */
export function installedCniPlugin(stateDir: string, node: string): Record<string, unknown> {
  return {
    type: 'ambit-cni',
    agentSocket: hostPathOnNode(stateDir, node, '/var/run/ambit/agent.sock'),
    kubeconfig: nodeKubeconfigPath(stateDir, node),
  };
}
