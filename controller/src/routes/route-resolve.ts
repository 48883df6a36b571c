import type { RouteBackend, RouteFilter, RouteParent, RouteRule } from '@ambit/core/routes';
import type { ServiceView } from '../model/kube-objects.ts';
import { WAYPOINT_GATEWAY_CLASS, selectorMatches } from '../model/labels.ts';
import { serviceHostname } from '../model/service.ts';
import { AMBIT_GROUP, type HttpFaultView } from '../traffic/ambit-objects.ts';
import type { ConvertedRule } from './precedence.ts';
import type { ExtensionRefView } from './route-filters.ts';
import { grantAllows, type ReferenceGrantView, type RouteGatewayView } from './route-references.ts';
import { GATEWAY_GROUP, type BackendRefView, type ParentRefView, type RouteView } from './route-objects.ts';

/**
 * Resolving a parsed route against the rest of the cluster: backendRefs to mesh Services (ResolvedRefs), parentRefs
 * to route parents (Accepted). Pure functions of the route and a read-only view of the world, so the builder decides
 * what to recompute and these stay testable on their own.
 */

export interface RouteWorld {
  service(namespace: string, name: string): ServiceView | undefined;
  gateway(namespace: string, name: string): RouteGatewayView | undefined;
  grants(namespace: string): Iterable<ReferenceGrantView>;
  namespaceLabels(namespace: string): Readonly<Record<string, string>>;
  /** The last good version of an `ambit.dev` HTTPFault. */
  fault(namespace: string, name: string): HttpFaultView | undefined;
}

/** A backendRef that does not resolve; `reason` is a Gateway API ResolvedRefs reason. */
export interface BackendProblem {
  readonly reason: 'BackendNotFound' | 'InvalidKind' | 'RefNotPermitted';
  readonly message: string;
}

export interface ResolvedRules {
  readonly rules: readonly ConvertedRule[];
  readonly problems: readonly BackendProblem[];
  /** `namespace/name` of every Service a backendRef names: a change to one of them re-resolves the route. */
  readonly services: ReadonlySet<string>;
  /** Namespaces the route refers into from its own: their ReferenceGrants decide. */
  readonly grantNamespaces: ReadonlySet<string>;
  /** `namespace/name` of every HTTPFault an ExtensionRef names: a change to one of them re-resolves the route. */
  readonly faults: ReadonlySet<string>;
}

export function resolveRules(route: RouteView, world: RouteWorld): ResolvedRules {
  const problems: BackendProblem[] = [];
  const services = new Set<string>();
  const grantNamespaces = new Set<string>();
  const faults = new Set<string>();
  const namespacedName = `${route.meta.namespace}/${route.meta.name}`;
  const rules = route.rules.map((view): ConvertedRule => {
    const filters = view.filters.map((f): RouteFilter => {
      if (f.type !== 'ExtensionRef') return f;
      if (f.ref.group === AMBIT_GROUP && f.ref.kind === 'HTTPFault') faults.add(`${route.meta.namespace}/${f.ref.name}`);
      const resolved = resolveExtension(route, f.ref, world);
      if (resolved.problem !== undefined) problems.push(resolved.problem);
      return resolved.filter;
    });
    const backends = view.backendRefs.map((ref) => {
      if (ref.group === '' && ref.kind === 'Service') services.add(`${ref.namespace}/${ref.name}`);
      if (ref.namespace !== route.meta.namespace) grantNamespaces.add(ref.namespace);
      const resolved = resolveBackend(route, ref, world);
      if (resolved.invalidReason !== undefined) problems.push({ reason: resolved.reason, message: resolved.invalidReason });
      return resolved.backend;
    });
    const rule: RouteRule = {
      route: namespacedName,
      kind: route.kind,
      ruleIndex: view.index,
      filters,
      backends,
      ...(view.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: view.requestTimeoutMs }),
      ...(view.backendRequestTimeoutMs === undefined ? {} : { backendRequestTimeoutMs: view.backendRequestTimeoutMs }),
      ...(view.retry === undefined ? {} : { retry: view.retry }),
    };
    return { rule, matches: view.matches };
  });
  return { rules, problems, services, grantNamespaces, faults };
}

/**
 * An ExtensionRef filter: an `ambit.dev` HTTPFault becomes the Fault filter it describes. Anything else stays in the
 * rule as an Invalid filter, because the spec says an unresolved filter "MUST NOT be skipped": requests that reach it
 * get a 500 (the waypoint answers), and ResolvedRefs says why — InvalidKind for a kind we do not know, BackendNotFound
 * (the spec's reason for a reference to a resource that does not exist) for a missing HTTPFault.
 */
function resolveExtension(
  route: RouteView,
  ref: ExtensionRefView,
  world: RouteWorld,
): { readonly filter: RouteFilter; readonly problem?: BackendProblem } {
  const invalid = (reason: BackendProblem['reason'], message: string) => {
    const text = `${ref.field}: ${message}`;
    return { filter: { type: 'Invalid', reason: text } as const, problem: { reason, message: text } };
  };
  if (ref.group !== AMBIT_GROUP || ref.kind !== 'HTTPFault') {
    return invalid(
      'InvalidKind',
      `ExtensionRef to ${ref.group === '' ? 'core' : ref.group}/${ref.kind} is not supported (only ${AMBIT_GROUP}/HTTPFault)`,
    );
  }
  const namespace = route.meta.namespace;
  const fault = world.fault(namespace, ref.name);
  if (fault === undefined) return invalid('BackendNotFound', `HTTPFault ${namespace}/${ref.name} not found (or never valid)`);
  return {
    filter: {
      type: 'Fault',
      fault: `${namespace}/${ref.name}`,
      ...(fault.delay === undefined ? {} : { delay: fault.delay }),
      ...(fault.abort === undefined ? {} : { abort: fault.abort }),
    },
  };
}

type ResolvedBackend =
  | { readonly backend: RouteBackend; readonly invalidReason?: undefined; readonly reason?: undefined }
  | { readonly backend: RouteBackend; readonly invalidReason: string; readonly reason: BackendProblem['reason'] };

/**
 * An invalid backendRef keeps its weight, so its share of requests gets 500 as the spec requires ("requests that
 * would have been sent to an invalid backend MUST receive a 500") instead of silently going to the others.
 */
function resolveBackend(route: RouteView, ref: BackendRefView, world: RouteWorld): ResolvedBackend {
  const invalid = (reason: BackendProblem['reason'], message: string): ResolvedBackend => {
    const invalidReason = `${ref.field}: ${message}`;
    return { backend: { weight: ref.weight, filters: ref.filters, invalidReason }, invalidReason, reason };
  };
  if (ref.group !== '' || ref.kind !== 'Service') {
    return invalid('InvalidKind', `${ref.group === '' ? 'core' : ref.group}/${ref.kind} is not a supported backend (only core Services)`);
  }
  if (
    ref.namespace !== route.meta.namespace &&
    !grantAllows(world.grants(ref.namespace), { kind: route.kind, namespace: route.meta.namespace }, ref.name)
  ) {
    return invalid('RefNotPermitted', `Service ${ref.namespace}/${ref.name} is in another namespace and no ReferenceGrant there allows it`);
  }
  if (ref.port === undefined) return invalid('BackendNotFound', `port is required for a Service backend`);
  const svc = world.service(ref.namespace, ref.name);
  if (svc === undefined) return invalid('BackendNotFound', `Service ${ref.namespace}/${ref.name} not found`);
  if (!svc.ports.some((p) => p.port === ref.port && p.protocol === 'TCP')) {
    return invalid('BackendNotFound', `Service ${ref.namespace}/${ref.name} has no TCP port ${ref.port}`);
  }
  return {
    backend: {
      weight: ref.weight,
      filters: ref.filters,
      service: { namespace: ref.namespace, hostname: serviceHostname(ref.name, ref.namespace), port: ref.port },
    },
  };
}

/** What one parentRef means for us. `notOurs`: another controller's parent, whose status entry we leave alone. */
export type ParentDecision =
  | { readonly kind: 'notOurs' }
  | {
      readonly kind: 'rejected';
      readonly reason: 'NoMatchingParent' | 'NotAllowedByListeners' | 'UnsupportedValue';
      readonly message: string;
    }
  | { readonly kind: 'attached'; readonly parent: RouteParent };

export function resolveParent(route: RouteView, ref: ParentRefView, world: RouteWorld): ParentDecision {
  if (ref.group === '' && ref.kind === 'Service') return serviceParent(route, ref, world);
  if (ref.group === GATEWAY_GROUP && ref.kind === 'Gateway') return gatewayParent(route, ref, world);
  return { kind: 'notOurs' };
}

/** GAMMA (https://gateway-api.sigs.k8s.io/mesh/): the route applies to requests for the Service (or one of its ports). */
function serviceParent(route: RouteView, ref: ParentRefView, world: RouteWorld): ParentDecision {
  if (ref.namespace !== route.meta.namespace) {
    // A consumer route: it would apply only to clients in the route's namespace, which a waypoint (it serves the
    // Service's side) cannot tell apart; Istio's waypoints do not apply them either.
    return {
      kind: 'rejected',
      reason: 'UnsupportedValue',
      message: `consumer routes (a parent Service in another namespace, ${ref.namespace}) are not supported; create the route in ${ref.namespace}`,
    };
  }
  const svc = world.service(ref.namespace, ref.name);
  if (svc === undefined) return { kind: 'rejected', reason: 'NoMatchingParent', message: `Service ${ref.namespace}/${ref.name} not found` };
  let port = ref.port;
  if (ref.sectionName !== undefined) {
    // For a Service parent, sectionName names one of its ports.
    const named = svc.ports.find((p) => p.name === ref.sectionName);
    if (named === undefined || (port !== undefined && port !== named.port)) {
      return {
        kind: 'rejected',
        reason: 'NoMatchingParent',
        message: `Service ${ref.namespace}/${ref.name} has no port named ${ref.sectionName}${port === undefined ? '' : ` with number ${port}`}`,
      };
    }
    port = named.port;
  }
  if (port !== undefined && !svc.ports.some((p) => p.port === port)) {
    return { kind: 'rejected', reason: 'NoMatchingParent', message: `Service ${ref.namespace}/${ref.name} has no port ${port}` };
  }
  const hostname = serviceHostname(ref.name, ref.namespace);
  return {
    kind: 'attached',
    parent:
      port === undefined
        ? { kind: 'Service', namespace: ref.namespace, hostname }
        : { kind: 'Service', namespace: ref.namespace, hostname, port },
  };
}

function gatewayParent(route: RouteView, ref: ParentRefView, world: RouteWorld): ParentDecision {
  const gw = world.gateway(ref.namespace, ref.name);
  if (gw === undefined) return { kind: 'rejected', reason: 'NoMatchingParent', message: `Gateway ${ref.namespace}/${ref.name} not found` };
  if (gw.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) return { kind: 'notOurs' };
  const listeners = gw.listeners.filter(
    (l) => (ref.sectionName === undefined || l.name === ref.sectionName) && (ref.port === undefined || l.port === ref.port),
  );
  if (listeners.length === 0) {
    const which = [ref.sectionName === undefined ? '' : `sectionName ${ref.sectionName}`, ref.port === undefined ? '' : `port ${ref.port}`]
      .filter((s) => s !== '')
      .join(' and ');
    return { kind: 'rejected', reason: 'NoMatchingParent', message: `Gateway ${ref.namespace}/${ref.name} has no listener with ${which}` };
  }
  const routeNs = route.meta.namespace;
  const allowed = listeners.some((l) => {
    const kindOk = l.kinds.length === 0 || l.kinds.includes(`${GATEWAY_GROUP}/${route.kind}`);
    const nsOk =
      l.namespacesFrom === 'All' ||
      (l.namespacesFrom === 'Same' && routeNs === gw.meta.namespace) ||
      (l.namespacesFrom === 'Selector' && selectorMatches(l.namespaceSelector, world.namespaceLabels(routeNs)));
    return kindOk && nsOk;
  });
  if (!allowed) {
    return {
      kind: 'rejected',
      reason: 'NotAllowedByListeners',
      message: `no listener of Gateway ${ref.namespace}/${ref.name} allows a ${route.kind} from namespace ${routeNs} (listeners' allowedRoutes)`,
    };
  }
  if (route.hostnames.length > 0) {
    // A waypoint serves many Services on one listener; the route model has no host match, so a hostname-scoped route
    // cannot be applied faithfully. Attaching it to the Service (GAMMA) says the same thing.
    return {
      kind: 'rejected',
      reason: 'UnsupportedValue',
      message:
        'spec.hostnames is not supported for a waypoint Gateway parent; attach the route to the Service (parentRefs kind Service) instead',
    };
  }
  return { kind: 'attached', parent: { kind: 'Gateway', namespace: ref.namespace, name: ref.name } };
}
