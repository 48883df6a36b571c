import { KubeConfig } from '@kubernetes/client-node';
import { AmbitError, errorMessage } from '../errors.ts';
import { KubeClient } from './kube-client.ts';

/** A kubeconfig file as a command line tool reads it: the client of its current context, and that context's namespace. */
export interface KubeconfigTarget {
  readonly client: KubeClient;
  /** The current context's `namespace`, when it sets one (kubectl's default namespace for the context). */
  readonly namespace: string | undefined;
}

/**
 * Loads `path` with client-node (contexts, client certificates, tokens and exec plugins, as kubectl does), so a tool
 * that takes `--kubeconfig` needs no client-node import of its own. A missing or unreadable file, or one without a
 * current cluster, is a `BAD_KUBECONFIG` error naming the file.
 */
export function loadKubeconfig(path: string): KubeconfigTarget {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new AmbitError('BAD_KUBECONFIG', `${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null) throw new AmbitError('BAD_KUBECONFIG', `${path}: no cluster for the current context`);
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { client: new KubeClient(kc), namespace: namespace === '' ? undefined : namespace };
}
