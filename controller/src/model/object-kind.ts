import { describeObject, isRecord, kubeObjectReader } from '@ambit/core';

export type ModelKind = 'Pod' | 'Service' | 'Namespace' | 'Gateway' | 'AuthorizationPolicy' | 'PeerAuthentication';

/** apiVersion → kinds the model reads. Anything else is ignored without error (the watch may carry more). */
const KINDS: Readonly<Record<string, readonly ModelKind[]>> = {
  v1: ['Pod', 'Service', 'Namespace'],
  'security.istio.io/v1': ['AuthorizationPolicy', 'PeerAuthentication'],
  'security.istio.io/v1beta1': ['AuthorizationPolicy', 'PeerAuthentication'],
  'gateway.networking.k8s.io/v1': ['Gateway'],
  'gateway.networking.k8s.io/v1beta1': ['Gateway'],
};

export interface ObjectIdentity {
  readonly kind: ModelKind;
  /** '' for Namespaces. */
  readonly namespace: string;
  readonly name: string;
}

/**
 * The model kind of an object, or undefined for kinds it does not read. Throws KubeObjectError when the object has
 * no apiVersion/kind to tell.
 */
export function modelKindOf(value: unknown): ModelKind | undefined {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const apiVersion = r.name(o['apiVersion'], 'apiVersion');
  const kind = r.name(o['kind'], 'kind');
  return KINDS[apiVersion]?.find((k) => k === kind);
}

/** Kind, namespace and name only: what a delete needs, read without judging the rest (tombstones may be partial). */
export function identityOf(kind: ModelKind, value: unknown): ObjectIdentity {
  const r = kubeObjectReader(describeObject(value));
  const meta = r.record(isRecord(value) ? value['metadata'] : undefined, 'metadata');
  return {
    kind,
    namespace: kind === 'Namespace' ? '' : r.name(meta['namespace'], 'metadata.namespace'),
    name: r.name(meta['name'], 'metadata.name'),
  };
}
