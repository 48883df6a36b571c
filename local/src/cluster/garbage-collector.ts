import type { Logger } from '@ambit/core';
import type { KubeObject, OwnerReference } from '../kube/types.ts';
import type { StoreEvent } from './store-view.ts';
import type { Controller } from './controller.ts';
import { WorkQueue } from './work-queue.ts';

/** What the garbage collector needs from the store: any kind, by reference. */
export interface GcStore {
  /**
   * The object an ownerReference names, in `namespace` when the owner's kind is namespaced (Kubernetes allows no
   * cross-namespace owners); `'unknown-kind'` when the store does not serve the owner's kind.
   */
  findOwner(ref: OwnerReference, namespace: string | undefined): KubeObject | undefined | 'unknown-kind';
  /** The object's current version, or undefined when it is gone. */
  reread(obj: KubeObject): KubeObject | undefined;
  /** Deletes with background propagation; an object already gone is ignored. */
  remove(obj: KubeObject): void;
  onChange(listener: (event: StoreEvent) => void): () => void;
}

/**
 * The part of Kubernetes' garbage collector (kube-controller-manager, pkg/controller/garbagecollector) that the store's
 * own cascade cannot do: an object whose every owner is absent — created, or given an ownerReference, after its owner
 * was deleted, or naming a UID that never existed — is deleted, as `attemptToDeleteItem` does. (Removing an owner
 * already deletes its dependents synchronously in the store.) An owner of a kind the store does not serve is assumed
 * to exist, as the real collector leaves such dependents alone.
 */
export function startGarbageCollector(store: GcStore, log: Logger): Controller {
  const gcLog = log.child({ controller: 'garbage-collector' });
  const watched = new Map<string, KubeObject>();
  const queue = new WorkQueue((k) => {
    const seen = watched.get(k);
    watched.delete(k);
    const obj = seen === undefined ? undefined : store.reread(seen);
    if (obj === undefined || obj.metadata.deletionTimestamp !== undefined) return;
    const refs = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive = refs.some((ref) => {
      const owner = store.findOwner(ref, obj.metadata.namespace);
      return owner === 'unknown-kind' || (owner !== undefined && owner.metadata.uid === ref.uid);
    });
    if (alive) return;
    gcLog.info(
      { object: `${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`, owners: refs.map((r) => `${r.kind}/${r.name}`) },
      'every owner is gone; deleting the dependent',
    );
    store.remove(obj);
  }, gcLog);
  const unsubscribe = store.onChange((e) => {
    if (e.type === 'DELETED' || (e.object.metadata.ownerReferences ?? []).length === 0) return;
    const k = `${e.object.apiVersion}|${e.object.kind}|${e.object.metadata.namespace ?? ''}|${e.object.metadata.name ?? ''}`;
    watched.set(k, e.object);
    queue.add(k);
  });
  return {
    async stop() {
      unsubscribe();
      await queue.stop();
    },
  };
}
