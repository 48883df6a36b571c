// Pods and Namespaces as the node agent sees them: converted once, at the edge (STYLE rule 4), from the v1 objects
// the API serves, keeping only the fields capture decisions read. A bad object is refused with a KubeObjectError
// naming it and the field.
import { asRecord, describeObject, kubeObjectReader, type FieldReader } from '@ambit/core';
import { isAmbient } from '../plugin/membership.ts';

export const DEFAULT_EXCLUDE_NAMESPACES: readonly string[] = ['kube-system', 'ambit-system'];

export interface PodInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** `spec.nodeName`; empty while unscheduled. */
  readonly nodeName: string;
  /** `spec.serviceAccountName`, `default` when unset (what the API server defaults it to). */
  readonly serviceAccount: string;
  readonly hostNetwork: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** `status.podIPs[].ip`, else `status.podIP`; empty until the sandbox has its network. */
  readonly ips: readonly string[];
  /** `status.phase`; empty when the API has not set it. */
  readonly phase: string;
  /** `metadata.deletionTimestamp` is set: the pod is terminating. */
  readonly deleting: boolean;
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** `Pod ns/name`: the kind is known from the path it was read from (list items carry no `kind`). */
function readerFor(x: unknown, kind: 'Pod' | 'Namespace'): FieldReader {
  return kubeObjectReader(describeObject(x, kind));
}

export function parsePod(x: unknown): PodInfo {
  const r = readerFor(x, 'Pod');
  const obj = r.record(x, '.');
  const metadata = r.record(obj['metadata'], 'metadata');
  const spec = r.optRecord(obj['spec'], 'spec') ?? {};
  const status = r.optRecord(obj['status'], 'status') ?? {};
  const ips = r.optArray(status['podIPs'], 'status.podIPs').map((entry, i) => r.ip(asRecord(entry)['ip'], `status.podIPs[${i}].ip`));
  const podIP = r.optString(status['podIP'], 'status.podIP') ?? '';
  if (podIP !== '') r.ip(podIP, 'status.podIP');
  if (ips.length === 0 && podIP !== '') ips.push(podIP);
  return {
    uid: r.name(metadata['uid'], 'metadata.uid'),
    name: r.name(metadata['name'], 'metadata.name'),
    namespace: r.name(metadata['namespace'], 'metadata.namespace'),
    nodeName: r.optString(spec['nodeName'], 'spec.nodeName') ?? '',
    serviceAccount: r.optString(spec['serviceAccountName'], 'spec.serviceAccountName') || 'default',
    hostNetwork: r.optBoolean(spec['hostNetwork'], 'spec.hostNetwork') ?? false,
    labels: r.optStringMap(metadata['labels'], 'metadata.labels'),
    annotations: r.optStringMap(metadata['annotations'], 'metadata.annotations'),
    ips,
    phase: r.optString(status['phase'], 'status.phase') ?? '',
    deleting: metadata['deletionTimestamp'] !== undefined && metadata['deletionTimestamp'] !== null,
  };
}

export function parseNamespace(x: unknown): NamespaceInfo {
  const r = readerFor(x, 'Namespace');
  const metadata = r.record(r.record(x, '.')['metadata'], 'metadata');
  return {
    name: r.name(metadata['name'], 'metadata.name'),
    labels: r.optStringMap(metadata['labels'], 'metadata.labels'),
  };
}

/**
 * Whether the pod belongs in the mesh: Istio's label rule (`isAmbient`, shared with the plugin), never in an excluded
 * namespace, never with the host's network (its "netns" is the node's: capturing it would capture the node).
 */
export function podWantsCapture(pod: PodInfo, namespace: NamespaceInfo | undefined, excludeNamespaces: readonly string[]): boolean {
  if (pod.hostNetwork || excludeNamespaces.includes(pod.namespace)) return false;
  return isAmbient(pod, namespace ?? { labels: {} });
}

/**
 * A pod whose sandbox is up and that is not going away: it has an address (so the CNI ADD that gave it one is over)
 * and is Pending (containers starting) or Running. Pods still in CNI ADD have no address yet: that path enrols them.
 */
export function podIsRunning(pod: PodInfo): boolean {
  return pod.ips.length > 0 && !pod.deleting && (pod.phase === 'Running' || pod.phase === 'Pending');
}
