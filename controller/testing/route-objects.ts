/**
 * Gateway API objects for the route tests, as a watch delivers them (STYLE rule 20): plain JSON through the same
 * parsing as production. Defaults: namespace `demo`, created 2026-01-01T00:00:00Z, generation 1.
 */
import { NS } from './kube-objects.ts';

export interface RouteOptions {
  readonly ns?: string;
  readonly created?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly parentRefs?: ReadonlyArray<Record<string, unknown>>;
  readonly hostnames?: readonly string[];
  readonly status?: Record<string, unknown>;
}

/** A parentRef to Service `name` (GAMMA). */
export function serviceParent(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { group: '', kind: 'Service', name, ...extra };
}

/** A parentRef to waypoint Gateway `name`. */
export function gatewayParent(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, ...extra };
}

export function backend(name: string, port: number | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, ...(port === undefined ? {} : { port }), ...extra };
}

function route(
  kind: string,
  name: string,
  rules: ReadonlyArray<Record<string, unknown>> | undefined,
  o: RouteOptions,
): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind,
    metadata: {
      name,
      namespace: o.ns ?? NS,
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      generation: o.generation ?? 1,
      ...(o.resourceVersion === undefined ? {} : { resourceVersion: o.resourceVersion }),
    },
    spec: {
      parentRefs: o.parentRefs ?? [serviceParent('web')],
      ...(o.hostnames === undefined ? {} : { hostnames: o.hostnames }),
      ...(rules === undefined ? {} : { rules }),
    },
    ...(o.status === undefined ? {} : { status: o.status }),
  };
}

export function httpRoute(
  name: string,
  rules: ReadonlyArray<Record<string, unknown>> | undefined,
  o: RouteOptions = {},
): Record<string, unknown> {
  return route('HTTPRoute', name, rules, o);
}

export function grpcRoute(
  name: string,
  rules: ReadonlyArray<Record<string, unknown>> | undefined,
  o: RouteOptions = {},
): Record<string, unknown> {
  return route('GRPCRoute', name, rules, o);
}

export function referenceGrant(
  name: string,
  ns: string,
  from: ReadonlyArray<{ kind: string; namespace: string }>,
  to: ReadonlyArray<{ name?: string }> = [{}],
): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name, namespace: ns },
    spec: {
      from: from.map((f) => ({ group: 'gateway.networking.k8s.io', ...f })),
      to: to.map((t) => ({ group: '', kind: 'Service', ...t })),
    },
  };
}
