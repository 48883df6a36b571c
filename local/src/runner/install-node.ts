import { join } from 'node:path';
import { nodeKubeconfigPath } from './node-api.ts';

/**
 * Where a `hostPath` volume path lives on a local node (shared contract 1): `<stateDir>/nodes/<node>/host<path>`, so
 * each node has its own `/var/run/ambit`, as separate machines do.
 */
export function nodeHostPath(stateDir: string, node: string, path: string): string {
  return join(stateDir, 'nodes', node, 'host', path);
}

/**
 * The `ambit-cni` entry chained after `bridge` when Ambit is installed from the manifests: the node-agent DaemonSet
 * serves the plugin on `/var/run/ambit/agent.sock` of its node (deploy/base/node-agent.yaml `--cni-socket`), a
 * hostPath. The plugin runs in the node's namespace and reads the API with the node's kubeconfig.
 */
export function installedCniPlugin(stateDir: string, node: string): Record<string, unknown> {
  return {
    type: 'ambit-cni',
    agentSocket: nodeHostPath(stateDir, node, '/var/run/ambit/agent.sock'),
    kubeconfig: nodeKubeconfigPath(stateDir, node),
  };
}
