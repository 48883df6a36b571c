import type { KubeObject, ResourceType } from '../kube/types.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { KindName, StoreView } from '../cluster/store-view.ts';
import type { GcStore } from '../cluster/garbage-collector.ts';
import type { ApplyTarget } from './apply.ts';

const KIND_API_VERSION: Record<KindName, string> = {
  Namespace: 'v1',
  Node: 'v1',
  Pod: 'v1',
  Service: 'v1',
  ServiceAccount: 'v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ControllerRevision: 'apps/v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Event: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
};

/** The controllers' narrow view of the store (see StoreView). */
export function storeView(store: ObjectStore): StoreView {
  const typeOf = (kind: KindName): ResourceType => store.typeOf({ apiVersion: KIND_API_VERSION[kind], kind });
  return {
    find: (kind, ns, name) => store.find(typeOf(kind), ns, name),
    list: (kind, ns) => store.list(typeOf(kind), { namespace: ns }).items,
    create: (obj) => store.create(obj),
    update: (obj) => store.update(withoutRv(obj)),
    updateStatus: (obj) => store.update(withoutRv(obj), { subresource: 'status' }),
    remove: (kind, ns, name, gracePeriodSeconds) => {
      const type = typeOf(kind);
      if (store.find(type, ns, name) === undefined) return;
      store.delete(type, ns, name, gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds });
    },
    onChange: (listener) => store.subscribe(listener),
  };
}

/** The garbage collector's view: any kind, by ownerReference. */
export function gcStore(store: ObjectStore): GcStore {
  return {
    findOwner: (ref, namespace) => {
      const type = store.types.byKind(ref.apiVersion, ref.kind);
      if (type === undefined) return 'unknown-kind';
      return store.find(type, type.namespaced ? namespace : undefined, ref.name);
    },
    reread: (obj) => {
      const type = store.types.byKind(obj.apiVersion, obj.kind);
      return type === undefined ? undefined : store.find(type, obj.metadata.namespace, obj.metadata.name ?? '');
    },
    remove: (obj) => {
      const type = store.types.byKind(obj.apiVersion, obj.kind);
      if (type === undefined || store.find(type, obj.metadata.namespace, obj.metadata.name ?? '') === undefined) return;
      store.delete(type, obj.metadata.namespace, obj.metadata.name ?? '', { propagationPolicy: 'Background' });
    },
    onChange: (listener) => store.subscribe(listener),
  };
}

/**
 * In-process controllers read and write synchronously in one thread, so an object they just read cannot have changed
 * underneath them; dropping the resourceVersion turns the write into a plain replace instead of a compare-and-swap
 * that could only fail spuriously after an await.
 */
function withoutRv(obj: KubeObject): KubeObject {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** Applying manifests: any kind; unknown kinds are registered on first sight (namespaced if the object names one). */
export function applyTarget(store: ObjectStore): ApplyTarget {
  const typeFor = (apiVersion: string, kind: string, hint?: KubeObject): ResourceType =>
    store.types.byKind(apiVersion, kind) ?? store.registerKind(apiVersion, kind, hint?.metadata.namespace !== undefined);
  return {
    transaction: (fn) => store.transaction(fn),
    get: (apiVersion, kind, ns, name) => store.find(typeFor(apiVersion, kind), ns, name),
    // Strict, as kubectl apply: a field a CRD's schema does not know is a typo to report, not to drop in silence.
    create: (obj) => store.create(obj, { fieldValidation: 'Strict' }),
    update: (obj) => store.update(obj, { fieldValidation: 'Strict' }),
    delete: (apiVersion, kind, ns, name) => {
      store.delete(typeFor(apiVersion, kind), ns, name);
    },
    isNamespaced: (apiVersion, kind, hint) => typeFor(apiVersion, kind, hint).namespaced,
  };
}
