import type { Service } from '@ambit/core';
import {
  DEFAULT_RETRY,
  modifyHeaders,
  pickBackend,
  rewritePath,
  selectRoute,
  type HeaderModifier,
  type RequestFacts,
  type RetryPolicy,
  type RouteFilter,
  type RouteRule,
} from '@ambit/core/routes';
import type { Destination } from './destination.ts';
import { WaypointError } from './errors.ts';
import type { FaultFilter } from './fault.ts';
import { headerValue, type HeaderPairs } from './headers.ts';
import type { Endpoint, WaypointState } from './proxy-inputs.ts';

/** Where a request goes and how it is changed on the way, decided once per request from the config of that moment. */
export type RoutePlan =
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string; readonly route: string | undefined }
  | {
      readonly kind: 'forward';
      readonly route: string | undefined;
      /** The backend Service (undefined when a pod was addressed directly). */
      readonly service: Service | undefined;
      /** The backend Service's port (its DestinationRule cluster is per port, as Envoy's); undefined with `service`. */
      readonly servicePort: number | undefined;
      /** Ready endpoints to choose from, per try. */
      readonly endpoints: readonly Endpoint[];
      readonly path: string;
      readonly authority: string;
      /** Request headers after the rule's and the backend's RequestHeaderModifiers. */
      readonly headers: HeaderPairs;
      readonly responseModifiers: readonly HeaderModifier[];
      readonly retry: RetryPolicy;
      /**
       * Whether a try cut by `timeouts.backendRequest` before its response head is retried: only under a route's own
       * retry stanza (GEP-1731: the Gateway "SHOULD schedule the next retry attempt"), not under Istio's default
       * policy, whose retry_on (connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes) has
       * neither `5xx` nor `gateway-error`, the only conditions under which Envoy retries a per-try timeout
       * (router/retry_state_impl.cc).
       */
      readonly retryTryTimeout: boolean;
      readonly requestTimeoutMs: number | undefined;
      readonly backendRequestTimeoutMs: number | undefined;
      /** The rule's fault filter (the last, if several), drawn per request after the rate limits. */
      readonly fault?: FaultFilter;
    };

export interface PlanInput {
  readonly method: string;
  readonly target: string;
  readonly authority: string;
  readonly headers: HeaderPairs;
}

function facts(req: PlanInput): RequestFacts {
  const q = req.target.indexOf('?');
  return {
    method: req.method.toUpperCase(),
    path: q < 0 ? req.target : req.target.slice(0, q),
    query: q < 0 ? '' : req.target.slice(q + 1),
    header: (name) => headerValue(req.headers, name),
  };
}

function hostOnly(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

function portOf(authority: string): string | undefined {
  const m = /:(\d+)$/.exec(authority);
  return m?.[1];
}

/** The `Location` of a RequestRedirect (Gateway API HTTPRequestRedirectFilter). */
function redirectLocation(f: Extract<RouteFilter, { type: 'RequestRedirect' }>, req: PlanInput, matchedPrefix: string | undefined): string {
  const scheme = f.scheme ?? 'http';
  const host = f.hostname ?? hostOnly(req.authority);
  // A port given wins; a scheme change drops the request's port (the scheme's well-known one applies); else it stays.
  const port = f.port !== undefined ? String(f.port) : f.scheme !== undefined ? undefined : portOf(req.authority);
  const wellKnown = (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443');
  const path = f.path === undefined ? req.target : rewritePath(req.target, f.path, matchedPrefix);
  return `${scheme}://${host}${port === undefined || wellKnown ? '' : `:${port}`}${path}`;
}

/**
 * Routing (Gateway API HTTPRoute/GRPCRoute semantics): the first matching entry of the parent's route set, its
 * filters in order, a backend weighted per request; a Service with no routes goes to itself (Envoy's default route);
 * a pod addressed by IP goes to that pod. Throws WaypointError for the spec's 404 (no match) and 500 (no valid backend,
 * or an unresolved filter).
 */
export function planRoute(state: WaypointState, dest: Destination, req: PlanInput): RoutePlan {
  if (dest.service === undefined || dest.servicePort === undefined || dest.workload !== undefined) {
    // A pod addressed by IP: Istio's waypoint sends it to that pod, Service routes do not apply.
    if (dest.workload === undefined) throw new WaypointError('NO_HEALTHY_UPSTREAM', 'destination unknown');
    return forwardTo(undefined, undefined, [{ workload: dest.workload, port: dest.targetPort }], req, undefined, undefined);
  }
  const set = state.routesFor(dest.service, dest.servicePort);
  if (set === undefined) {
    return forwardTo(dest.service, dest.servicePort, state.endpoints(dest.service, dest.servicePort), req, undefined, undefined);
  }
  const choice = selectRoute(set, facts(req));
  if (choice === undefined) throw new WaypointError('NO_ROUTE', `no route of ${dest.service.hostname}:${dest.servicePort} matches`);
  const rule = choice.rule;
  const routeName = `${rule.route}#${rule.ruleIndex}`;
  // A filter the controller could not resolve: the rule is not applied at all, whatever its other filters (Gateway API).
  const invalid = rule.filters.find((f) => f.type === 'Invalid');
  if (invalid !== undefined) throw new WaypointError('INVALID_FILTER', `${routeName}: ${invalid.reason}`);
  let fault: FaultFilter | undefined;
  let headers = req.headers;
  let path = req.target;
  let authority = req.authority;
  const responseModifiers: HeaderModifier[] = [];
  for (const f of rule.filters) {
    switch (f.type) {
      case 'RequestRedirect':
        return { kind: 'redirect', status: f.statusCode, location: redirectLocation(f, req, choice.matchedPrefix), route: routeName };
      case 'RequestHeaderModifier':
        headers = modifyHeaders(headers, f.modifier);
        break;
      case 'ResponseHeaderModifier':
        responseModifiers.push(f.modifier);
        break;
      case 'URLRewrite':
        if (f.path !== undefined) path = rewritePath(path, f.path, choice.matchedPrefix);
        if (f.hostname !== undefined) {
          const port = portOf(authority);
          authority = port === undefined ? f.hostname : `${f.hostname}:${port}`;
          headers = headers.map(([k, v]) => (k === 'host' ? [k, authority] : [k, v]));
        }
        break;
      case 'Fault':
        fault = f;
        break;
    }
  }
  const backend = pickBackend(rule);
  if (backend === undefined) throw new WaypointError('NO_VALID_BACKEND', `${routeName} has no backend with weight`);
  if (backend.service === undefined) {
    throw new WaypointError('NO_VALID_BACKEND', `${routeName}: invalid backend (${backend.invalidReason ?? 'unresolved'})`);
  }
  const service = state.serviceByHostname(backend.service.namespace, backend.service.hostname);
  if (service === undefined) throw new WaypointError('NO_VALID_BACKEND', `${routeName}: backend ${backend.service.hostname} is not known`);
  for (const f of backend.filters) {
    if (f.type === 'RequestHeaderModifier') headers = modifyHeaders(headers, f.modifier);
    else if (f.type === 'ResponseHeaderModifier') responseModifiers.push(f.modifier);
  }
  const plan = forwardTo(
    service,
    backend.service.port,
    state.endpoints(service, backend.service.port),
    { ...req, headers, target: path, authority },
    rule,
    routeName,
  );
  return { ...plan, responseModifiers, ...(fault === undefined ? {} : { fault }) };
}

function forwardTo(
  service: Service | undefined,
  servicePort: number | undefined,
  endpoints: readonly Endpoint[],
  req: PlanInput,
  rule: RouteRule | undefined,
  route: string | undefined,
): Extract<RoutePlan, { kind: 'forward' }> {
  return {
    kind: 'forward',
    route,
    service,
    servicePort,
    endpoints,
    path: req.target,
    authority: req.authority,
    headers: req.headers,
    responseModifiers: [],
    retry: rule?.retry ?? DEFAULT_RETRY,
    retryTryTimeout: rule?.retry !== undefined,
    requestTimeoutMs: rule?.requestTimeoutMs,
    backendRequestTimeoutMs: rule?.backendRequestTimeoutMs,
  };
}
