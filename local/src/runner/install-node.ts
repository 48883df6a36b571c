import { hostPathOnNode } from '../cluster/volumes.ts';
import { nodeKubeconfigPath } from './node-api.ts';

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
