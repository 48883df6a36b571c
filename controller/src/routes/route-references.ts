import { describeObject, type FieldReader, kubeObjectReader } from '@ambit/core';
import { parseObjectMeta, type ObjectMeta } from '../model/kube-objects.ts';
import { GATEWAY_GROUP, type RouteKind } from './route-objects.ts';

/**
 * The other objects route attachment and backend resolution read: ReferenceGrants (who may point at a namespace's
 * Services) and the listeners of Gateways (which routes a waypoint Gateway accepts). Read as narrowly as the route
 * translation needs; the model's own views of these kinds stay the model's.
 */

export interface GrantFrom {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

export interface GrantTo {
  readonly group: string;
  readonly kind: string;
  /** Absent: every object of that kind in the grant's namespace. */
  readonly name?: string;
}

export interface ReferenceGrantView {
  readonly meta: ObjectMeta;
  readonly from: readonly GrantFrom[];
  readonly to: readonly GrantTo[];
}

export function parseReferenceGrant(value: unknown): ReferenceGrantView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.record(o['spec'], 'spec');
  const from = r.optArray(spec['from'], 'spec.from').map((f, i): GrantFrom => {
    const x = r.record(f, `spec.from[${i}]`);
    return {
      group: r.string(x['group'], `spec.from[${i}].group`),
      kind: r.name(x['kind'], `spec.from[${i}].kind`),
      namespace: r.name(x['namespace'], `spec.from[${i}].namespace`),
    };
  });
  const to = r.optArray(spec['to'], 'spec.to').map((t, i): GrantTo => {
    const x = r.record(t, `spec.to[${i}]`);
    const name = r.optString(x['name'], `spec.to[${i}].name`);
    const grant = { group: r.string(x['group'], `spec.to[${i}].group`), kind: r.name(x['kind'], `spec.to[${i}].kind`) };
    return name === undefined || name === '' ? grant : { ...grant, name };
  });
  return { meta, from, to };
}

/**
 * ReferenceGrant semantics (gateway.networking.k8s.io/v1beta1): a grant in the *target* namespace lets routes of a
 * kind in a `from` namespace refer to the `to` objects there. Only core Services are backends here.
 */
export function grantAllows(
  grants: Iterable<ReferenceGrantView>,
  from: { readonly kind: RouteKind; readonly namespace: string },
  serviceName: string,
): boolean {
  for (const g of grants) {
    const fromOk = g.from.some((f) => f.group === GATEWAY_GROUP && f.kind === from.kind && f.namespace === from.namespace);
    if (!fromOk) continue;
    if (g.to.some((t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === serviceName))) return true;
  }
  return false;
}

export interface ListenerView {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  /** allowedRoutes.namespaces.from: Same (the default), All or Selector. */
  readonly namespacesFrom: 'Same' | 'All' | 'Selector';
  /** allowedRoutes.namespaces.selector.matchLabels, for `Selector`. */
  readonly namespaceSelector: Readonly<Record<string, string>>;
  /** allowedRoutes.kinds as `group/kind`; empty: the route kinds the protocol takes (HTTPRoute and GRPCRoute here). */
  readonly kinds: readonly string[];
}

export interface RouteGatewayView {
  readonly meta: ObjectMeta;
  readonly gatewayClassName: string;
  readonly listeners: readonly ListenerView[];
}

export function parseRouteGateway(value: unknown): RouteGatewayView {
  const r = kubeObjectReader(describeObject(value));
  const o = r.record(value, '.');
  const meta = parseObjectMeta(r, o['metadata'], true);
  const spec = r.record(o['spec'], 'spec');
  return {
    meta,
    gatewayClassName: r.name(spec['gatewayClassName'], 'spec.gatewayClassName'),
    listeners: r.optArray(spec['listeners'], 'spec.listeners').map((l, i) => parseListener(r, l, `spec.listeners[${i}]`)),
  };
}

function parseListener(r: FieldReader, value: unknown, field: string): ListenerView {
  const l = r.record(value, field);
  const allowed = r.optRecord(l['allowedRoutes'], `${field}.allowedRoutes`) ?? {};
  const ns = r.optRecord(allowed['namespaces'], `${field}.allowedRoutes.namespaces`) ?? {};
  const selector = r.optRecord(ns['selector'], `${field}.allowedRoutes.namespaces.selector`);
  return {
    name: r.optString(l['name'], `${field}.name`) ?? '',
    port: r.port(l['port'], `${field}.port`),
    protocol: r.optString(l['protocol'], `${field}.protocol`) ?? '',
    namespacesFrom: r.optOneOf(ns['from'], `${field}.allowedRoutes.namespaces.from`, ['Same', 'All', 'Selector'] as const) ?? 'Same',
    namespaceSelector: r.optStringMap(selector?.['matchLabels'], `${field}.allowedRoutes.namespaces.selector.matchLabels`),
    kinds: r.optArray(allowed['kinds'], `${field}.allowedRoutes.kinds`).map((k, i) => {
      const x = r.record(k, `${field}.allowedRoutes.kinds[${i}]`);
      const group = r.optString(x['group'], `${field}.allowedRoutes.kinds[${i}].group`) ?? GATEWAY_GROUP;
      return `${group}/${r.name(x['kind'], `${field}.allowedRoutes.kinds[${i}].kind`)}`;
    }),
  };
}
