import { describeObject, FieldReader, isRecord, kubeObjectReader } from '@ambit/core';
import { HBONE_PORT } from '../model/core-model.ts';
import { WAYPOINT_FOR_LABEL, WAYPOINT_GATEWAY_CLASS } from '../model/labels.ts';

/** Gateway API `controllerName` of the waypoint GatewayClass and of route status parents (contract 7; istiod's). */
export const WAYPOINT_CONTROLLER_NAME = 'istio.io/mesh-controller';
/** On every object the deployer creates (Istio's label and value): the controller watches its objects by it. */
export const MANAGED_LABEL = 'gateway.istio.io/managed';
export const MANAGED_VALUE = 'istio.io-mesh-controller';
export const GATEWAY_CLASS_NAME_LABEL = 'gateway.networking.k8s.io/gateway-class-name';
export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';

/** Why a waypoint Gateway is not accepted: a Gateway API reason and the field at fault. */
export interface GatewayProblem {
  readonly reason: 'ListenersNotValid' | 'InvalidParameters';
  readonly field: string;
  readonly message: string;
}

/** A Gateway of class `istio-waypoint`, narrowed to what the deployer and the status need. */
export interface WaypointGateway {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number | undefined;
  /** `istio.io/waypoint-for` (service, workload, all, none); the model reads it from the Gateway itself. */
  readonly waypointFor: string | undefined;
  /** `spec.infrastructure`: put on every object the deployer creates and on the pod template (Gateway API GEP-1867). */
  readonly infrastructure: { readonly labels: Readonly<Record<string, string>>; readonly annotations: Readonly<Record<string, string>> };
  /** Set when the spec is not a valid waypoint; nothing is deployed for it then. */
  readonly problem: GatewayProblem | undefined;
}

/** `other` for Gateways of any other class: they belong to other controllers. */
export type ParsedGateway = { readonly kind: 'other' } | { readonly kind: 'waypoint'; readonly gateway: WaypointGateway };

// Kubernetes' label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue).
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `key prefix "${prefix}" is not a DNS subdomain`;
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name))
    return `key "${key}" is not a qualified name (≤ 63 alphanumerics, '-', '_', '.')`;
  return undefined;
}

function labelValueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= 63 && NAME_PART.test(value))) return undefined;
  return `value "${value.slice(0, 80)}" is not a valid label value (≤ 63 alphanumerics, '-', '_', '.')`;
}

/**
 * Reads a Gateway. A waypoint is valid with an HBONE listener on port 15008 (istioctl writes it as `mesh`; Istio
 * does not insist on the name, so neither do we) and infrastructure labels and annotations Kubernetes would accept
 * on the objects they are copied to. Throws KubeObjectError only when metadata or spec are unreadable.
 */
export function parseWaypointGateway(value: unknown): ParsedGateway {
  const r = kubeObjectReader(describeObject(value, 'Gateway'));
  const o = r.record(value, '.');
  const meta = r.record(o['metadata'], 'metadata');
  const spec = r.record(o['spec'], 'spec');
  if (spec['gatewayClassName'] !== WAYPOINT_GATEWAY_CLASS) return { kind: 'other' };
  const labels = r.optStringMap(meta['labels'], 'metadata.labels');
  const generation = meta['generation'];

  // Spec problems are collected, not thrown: they become the Gateway's Accepted condition.
  const c = FieldReader.collecting();
  const listeners = c.optArray(spec['listeners'], 'spec.listeners') ?? [];
  let problem: GatewayProblem | undefined;
  const hboneAt = listeners.findIndex((l) => isRecord(l) && l['protocol'] === 'HBONE');
  const hbone = listeners[hboneAt];
  if (!isRecord(hbone)) {
    problem = {
      reason: 'ListenersNotValid',
      field: 'spec.listeners',
      message: `a waypoint needs a listener with protocol HBONE on port ${HBONE_PORT} (name mesh)`,
    };
  } else if (hbone['port'] !== HBONE_PORT) {
    problem = {
      reason: 'ListenersNotValid',
      field: `spec.listeners[${hboneAt}].port`,
      message: `a waypoint's HBONE listener must be on port ${HBONE_PORT}, got ${String(hbone['port'])}`,
    };
  }

  const infra = c.optRecord(spec['infrastructure'], 'spec.infrastructure') ?? {};
  const infraLabels = c.optStringMap(infra['labels'], 'spec.infrastructure.labels') ?? {};
  const infraAnnotations = c.optStringMap(infra['annotations'], 'spec.infrastructure.annotations') ?? {};
  for (const [k, v] of Object.entries(infraLabels)) {
    const why = qualifiedNameProblem(k) ?? labelValueProblem(v);
    if (why !== undefined) c.fail(`spec.infrastructure.labels[${k}]`, why);
  }
  for (const k of Object.keys(infraAnnotations)) {
    const why = qualifiedNameProblem(k);
    if (why !== undefined) c.fail(`spec.infrastructure.annotations[${k}]`, why);
  }
  const first = c.problems[0];
  if (problem === undefined && first !== undefined) {
    problem = {
      reason: first.field.startsWith('spec.listeners') ? 'ListenersNotValid' : 'InvalidParameters',
      field: first.field,
      message: first.message,
    };
  }

  return {
    kind: 'waypoint',
    gateway: {
      namespace: r.name(meta['namespace'], 'metadata.namespace'),
      name: r.name(meta['name'], 'metadata.name'),
      uid: r.optString(meta['uid'], 'metadata.uid') ?? '',
      generation: typeof generation === 'number' ? generation : undefined,
      waypointFor: labels[WAYPOINT_FOR_LABEL],
      infrastructure: { labels: infraLabels, annotations: infraAnnotations },
      problem,
    },
  };
}
