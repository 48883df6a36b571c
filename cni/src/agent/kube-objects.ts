// Pods and Namespaces as the node agent sees them: converted once, at the edge (STYLE rule 4), from the v1 objects
// the API serves, keeping only the fields capture decisions read. A bad object is refused with an error naming it
// and the field.
import { isIP } from 'node:net';
import { AmbitError } from '@ambit/core';
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

/** An object from the API that does not have the shape of its kind. */
export class KubeObjectError extends AmbitError {
  constructor(message: string) {
    super('BAD_KUBE_OBJECT', message);
  }
}

type Json = Record<string, unknown>;

function isJson(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function field(o: Json, name: string, what: string, path: string): Json {
  const v = o[name];
  if (v === undefined || v === null) return {};
  if (!isJson(v)) throw new KubeObjectError(`${what}: field ${path} must be an object`);
  return v;
}

function optString(o: Json, name: string, what: string, path: string): string {
  const v = o[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new KubeObjectError(`${what}: field ${path} must be a string`);
  return v;
}

function reqString(o: Json, name: string, what: string, path: string): string {
  const v = optString(o, name, what, path);
  if (v === '') throw new KubeObjectError(`${what}: field ${path} must be a non-empty string`);
  return v;
}

function stringMap(o: Json, name: string, what: string, path: string): Record<string, string> {
  const v = field(o, name, what, path);
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw new KubeObjectError(`${what}: field ${path}.${k} must be a string`);
  }
  return v as Record<string, string>;
}

/** The `metadata` of any object, and a name for it in errors (`pod ns/name` once known). */
function metadataOf(x: unknown, kind: string): { metadata: Json; what: string } {
  if (!isJson(x)) throw new KubeObjectError(`${kind}: not a JSON object`);
  if (!isJson(x['metadata'])) throw new KubeObjectError(`${kind}: field metadata must be an object`);
  const metadata = x['metadata'];
  const ns = typeof metadata['namespace'] === 'string' ? `${metadata['namespace']}/` : '';
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '(unnamed)';
  return { metadata, what: `${kind} ${ns}${name}` };
}

export function parsePod(x: unknown): PodInfo {
  const { metadata, what } = metadataOf(x, 'pod');
  const obj = x as Json;
  const spec = field(obj, 'spec', what, 'spec');
  const status = field(obj, 'status', what, 'status');
  const ips: string[] = [];
  const podIPs = status['podIPs'];
  if (Array.isArray(podIPs)) {
    podIPs.forEach((entry: unknown, i) => {
      const ip = isJson(entry) ? entry['ip'] : undefined;
      if (typeof ip !== 'string' || isIP(ip) === 0) throw new KubeObjectError(`${what}: field status.podIPs[${i}].ip must be an IP address`);
      ips.push(ip);
    });
  } else if (podIPs !== undefined && podIPs !== null) {
    throw new KubeObjectError(`${what}: field status.podIPs must be a list`);
  }
  const podIP = optString(status, 'podIP', what, 'status.podIP');
  if (podIP !== '' && isIP(podIP) === 0) throw new KubeObjectError(`${what}: field status.podIP must be an IP address`);
  if (ips.length === 0 && podIP !== '') ips.push(podIP);
  const hostNetwork = spec['hostNetwork'];
  if (hostNetwork !== undefined && hostNetwork !== null && typeof hostNetwork !== 'boolean') {
    throw new KubeObjectError(`${what}: field spec.hostNetwork must be a boolean`);
  }
  return {
    uid: reqString(metadata, 'uid', what, 'metadata.uid'),
    name: reqString(metadata, 'name', what, 'metadata.name'),
    namespace: reqString(metadata, 'namespace', what, 'metadata.namespace'),
    nodeName: optString(spec, 'nodeName', what, 'spec.nodeName'),
    serviceAccount: optString(spec, 'serviceAccountName', what, 'spec.serviceAccountName') || 'default',
    hostNetwork: hostNetwork === true,
    labels: stringMap(metadata, 'labels', what, 'metadata.labels'),
    annotations: stringMap(metadata, 'annotations', what, 'metadata.annotations'),
    ips,
    phase: optString(status, 'phase', what, 'status.phase'),
    deleting: metadata['deletionTimestamp'] !== undefined && metadata['deletionTimestamp'] !== null,
  };
}

export function parseNamespace(x: unknown): NamespaceInfo {
  const { metadata, what } = metadataOf(x, 'namespace');
  return {
    name: reqString(metadata, 'name', what, 'metadata.name'),
    labels: stringMap(metadata, 'labels', what, 'metadata.labels'),
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
