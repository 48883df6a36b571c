import { asRecord, describeObject, kubeObjectReader } from '@ambit/core';
import type { TrafficPolicy } from '@ambit/core/traffic';
import { parseObjectMeta, type ObjectMeta } from '../model/kube-objects.ts';
import { CLUSTER_DOMAIN } from '../model/service.ts';
import { parseTrafficPolicy } from './traffic-policy.ts';

/**
 * Istio's `networking.istio.io` DestinationRule (v1, v1beta1 and v1alpha3 share the schema), read once here (STYLE
 * rule 4) into what a waypoint applies. A value the waypoint cannot take throws KubeObjectError naming the full field
 * path (`spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests`); the builder then keeps the last good
 * version. Fields that are set but not applied are listed in `ignored` for the status.
 */

export const DESTINATION_RULE_VERSIONS = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];

export interface SubsetView {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleView {
  /** The apiVersion the object was read with: its status is written through the same one. */
  readonly apiVersion: string;
  readonly meta: ObjectMeta;
  readonly generation?: number;
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets: readonly SubsetView[];
  /** `<field path>: <why>` for fields set but not applied. */
  readonly ignored: readonly string[];
}

export function parseDestinationRule(value: unknown): DestinationRuleView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const apiVersion = r.name(o['apiVersion'], 'apiVersion');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const generation = r.optInteger(asRecord(o['metadata'])['generation'], 'metadata.generation', 0, Number.MAX_SAFE_INTEGER);
  const spec = r.record(o['spec'], 'spec');
  const host = r.name(spec['host'], 'spec.host');
  const ignored: string[] = [];
  // A waypoint serves every client of its Services, so visibility limits do not apply to it.
  if (r.optStrings(spec['exportTo'], 'spec.exportTo').length > 0) ignored.push('spec.exportTo: visibility is not applied by waypoints');
  if (r.optRecord(spec['workloadSelector'], 'spec.workloadSelector') !== undefined) {
    ignored.push('spec.workloadSelector: applies to sidecars only; a waypoint applies the rule to every client');
  }
  const top =
    spec['trafficPolicy'] === undefined || spec['trafficPolicy'] === null
      ? undefined
      : parseTrafficPolicy(r, spec['trafficPolicy'], 'spec.trafficPolicy');
  if (top !== undefined) ignored.push(...top.ignored);
  const subsets = r.optArray(spec['subsets'], 'spec.subsets').map((s, i): SubsetView => {
    const field = `spec.subsets[${i}]`;
    const so = r.record(s, field);
    const name = r.name(so['name'], `${field}.name`);
    const labels = r.optStringMap(so['labels'], `${field}.labels`);
    const tp =
      so['trafficPolicy'] === undefined || so['trafficPolicy'] === null
        ? undefined
        : parseTrafficPolicy(r, so['trafficPolicy'], `${field}.trafficPolicy`);
    if (tp !== undefined) ignored.push(...tp.ignored);
    return tp === undefined ? { name, labels } : { name, labels, trafficPolicy: tp.policy };
  });
  const names = subsets.map((s) => s.name);
  const repeated = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (repeated >= 0) r.fail(`spec.subsets[${repeated}].name`, `subset ${JSON.stringify(names[repeated])} is defined more than once`);
  const view: DestinationRuleView = { apiVersion, meta, host, subsets, ignored };
  return {
    ...view,
    ...(generation === undefined ? {} : { generation }),
    ...(top === undefined ? {} : { trafficPolicy: top.policy }),
  };
}

/** What a DestinationRule's `host` names: a Service (namespace and name), or why it names none a waypoint can serve. */
export type HostTarget =
  | { readonly kind: 'service'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'unsupported'; readonly message: string };

/**
 * Istio's host rules for Kubernetes Services: a short name is in the rule's namespace; `name.ns`, `name.ns.svc` and
 * `name.ns.svc.cluster.local` name that Service. Wildcards and other hosts (ServiceEntries, external names) are not
 * Services a waypoint serves.
 */
export function resolveHost(host: string, ruleNamespace: string): HostTarget {
  if (host.includes('*')) {
    return { kind: 'unsupported', message: `host ${host} is a wildcard: waypoints apply DestinationRules to one Service host only` };
  }
  const parts = host.toLowerCase().split('.');
  const [name, ns] = parts;
  if (parts.length === 1 && name !== undefined && name !== '') return { kind: 'service', namespace: ruleNamespace, name };
  const suffix = parts.slice(2).join('.');
  if (name !== undefined && name !== '' && ns !== undefined && ns !== '' && ['', 'svc', `svc.${CLUSTER_DOMAIN}`].includes(suffix)) {
    return { kind: 'service', namespace: ns, name };
  }
  return {
    kind: 'unsupported',
    message: `host ${host} is not a Kubernetes Service host (name, name.namespace or name.namespace.svc.${CLUSTER_DOMAIN})`,
  };
}
