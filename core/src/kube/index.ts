/**
 * Reading a Kubernetes API the way every Ambit component does (DESIGN §6): `@kubernetes/client-node` for credentials
 * (kubeconfig or in-cluster) and list+watch, objects kept as plain JSON that each component parses at its edge.
 * A subpath of its own so that components which never talk to Kubernetes (ztunnel, the CNI plugin) do not load it.
 */
export { KubeApiError, KubeClient, type KubeList } from './kube-client.ts';
export { startInformer, type InformerOptions, type RunningInformer, type WatchEventType } from './informer.ts';
export { watchedKind, type WatchedKind } from './watched-kind.ts';
export { loadKubeconfig, type KubeconfigTarget } from './load-kubeconfig.ts';
