import type { Authorization, Service, Workload } from './core-model.ts';
import type { PolicyStatus } from './policy-status.ts';

/** One watch event: a Kubernetes object (plain JSON with apiVersion and kind) added/updated or deleted. */
export interface ModelChange {
  readonly type: 'upsert' | 'delete';
  readonly object: unknown;
}

/** Something the builder could not use, for a log line or a status entry; the builder never throws for these. */
export interface ModelError {
  /** `Kind namespace/name`. */
  readonly object: string;
  /** JSON path of the offending field (`spec.ports[0].targetPort`). */
  readonly field: string;
  readonly message: string;
}

export interface PolicyStatusUpdate {
  readonly kind: 'AuthorizationPolicy' | 'PeerAuthentication';
  readonly namespace: string;
  readonly name: string;
  readonly status: PolicyStatus;
}

/**
 * What one apply changed. `upserted` holds only resources whose content changed (deep-equal), `removed` only keys
 * that existed before; both are xDS-ready: workloads by uid, services by `ns/hostname`, authorizations by `ns/name`.
 */
export interface ModelDelta {
  readonly workloads: { readonly upserted: readonly Workload[]; readonly removed: readonly string[] };
  readonly services: { readonly upserted: readonly Service[]; readonly removed: readonly string[] };
  readonly authorizations: { readonly upserted: readonly Authorization[]; readonly removed: readonly string[] };
  /** Emitted when a policy's status differs from the last one emitted for it. */
  readonly policyStatus: readonly PolicyStatusUpdate[];
  readonly errors: readonly ModelError[];
}

export interface ModelSnapshot {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly authorizations: readonly Authorization[];
}

export interface ModelOptions {
  /** Trust domain of workload identities; default `cluster.local` (DEFAULT_TRUST_DOMAIN). */
  readonly trustDomain?: string;
  /** Cluster id in workload uids; default `Kubernetes` (DEFAULT_CLUSTER_ID). */
  readonly clusterId?: string;
  /** Namespace whose policies apply mesh-wide; default `ambit-system` (ROOT_NAMESPACE). */
  readonly rootNamespace?: string;
}

/** A pod as the CA sees it when checking that a node may ask for an identity. */
export interface NodePod {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  /** The pod's Kubernetes metadata.uid. */
  readonly uid: string;
  readonly phase: string;
}
