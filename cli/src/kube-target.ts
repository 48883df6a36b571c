import { loadKubeconfig, type KubeconfigTarget } from '@ambit/core/kube';
import { createContext, readyRunner } from './local/context.ts';

/**
 * The Kubernetes API a command works on: the cluster of `--kubeconfig`, as kubectl would reach it, or else the
 * named local cluster through the kubeconfig its runner wrote (TLS and a token on 127.0.0.1), after checking that the
 * cluster is up — so one code path serves both, and a stopped local cluster gets the usual clear error.
 */
export function kubeTarget(kubeconfig: string | undefined, cluster: string, stateRoot: string): KubeconfigTarget {
  if (kubeconfig !== undefined) return loadKubeconfig(kubeconfig);
  const ctx = createContext(cluster, stateRoot);
  readyRunner(ctx);
  return loadKubeconfig(ctx.paths.kubeconfig);
}
