import type { SchemaNode } from '../store/crd-schema.ts';

/**
 * Kubernetes object shapes as the local cluster stores and serves them. Objects stay plain JSON (what the API returns
 * is what was stored); typed views of the few fields the runtime reads live next to the code that reads them.
 */

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [field: string]: unknown;
}

/** Any Kubernetes object: apiVersion + kind + metadata, the rest left as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** One served resource type (what discovery lists). */
export interface ResourceType {
  /** API group, '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Lower-case plural, the URL segment: `pods`, `authorizationpolicies`. */
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  /** Has a `status` subresource: the main endpoint ignores `.status`, `/status` changes only `.status`. */
  readonly hasStatus: boolean;
  readonly shortNames?: readonly string[];
  /** A CRD version's `openAPIV3Schema`: its objects are pruned and validated against it (built-in types have none). */
  readonly schema?: SchemaNode;
  /** A CRD version's `additionalPrinterColumns` (`kubectl get` columns after NAME); absent: just AGE. */
  readonly printerColumns?: readonly PrinterColumn[];
}

/** apiextensions.k8s.io/v1 CustomResourceColumnDefinition. */
export interface PrinterColumn {
  readonly name: string;
  /** integer, number, string, boolean or date (shown as an age). */
  readonly type: string;
  readonly format?: string;
  readonly description?: string;
  readonly priority?: number;
  /** A simple JSONPath: `.spec.a`, `.spec.list[0].b`, `.status.conditions[?(@.type=="Ready")].status`. */
  readonly jsonPath: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

/** A field-level problem, reported in a `Status` as `details.causes[]` and by the CLI as `file:document:field`. */
export interface FieldError {
  /** Dotted path with indices, e.g. `spec.containers[0].command`. */
  readonly field: string;
  readonly message: string;
  /** The cause's reason in a `Status` (`FieldValueRequired`, `FieldValueNotSupported`, …); default `FieldValueInvalid`. */
  readonly reason?: string;
}
