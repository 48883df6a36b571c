/**
 * The L7 route model a waypoint enforces: what the controller computes from Gateway API `HTTPRoute` and `GRPCRoute`
 * objects (https://gateway-api.sigs.k8s.io/reference/spec/) and pushes over xDS, one resource per route *parent*
 * (a Service, GAMMA; or a waypoint Gateway). Plain readonly data, like the L4 model in `../model/types.ts`.
 *
 * The controller does the Gateway API work once: it resolves backendRefs to Services, turns GRPCRoute method matches
 * into path matches (`/package.Service/Method`), and flattens every rule's matches of every route attached to a
 * parent into one list sorted by the spec's precedence. The waypoint then takes the first entry that matches a
 * request, so it needs no knowledge of creation timestamps or route names to break ties.
 */

/** What a route set is attached to. */
export type RouteParent =
  /** GAMMA: `parentRefs[].kind: Service`; `port` set when the parentRef named one (then only that Service port). */
  | { readonly kind: 'Service'; readonly namespace: string; readonly hostname: string; readonly port?: number }
  /** The waypoint Gateway itself: applies to every Service it serves that has no Service-attached route. */
  | { readonly kind: 'Gateway'; readonly namespace: string; readonly name: string };

export type PathMatch =
  | { readonly type: 'Exact'; readonly value: string }
  | { readonly type: 'PathPrefix'; readonly value: string }
  | { readonly type: 'RegularExpression'; readonly value: string };

/** Header names are matched case-insensitively and kept lower-case here; query parameter names are exact. */
export interface ValueMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly name: string;
  readonly value: string;
}

/** All populated fields must match (Gateway API HTTPRouteMatch). An empty match matches every request. */
export interface RouteMatch {
  readonly path?: PathMatch;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  /** Upper-case HTTP method. */
  readonly method?: string;
}

export interface HeaderValue {
  readonly name: string;
  readonly value: string;
}

/** HTTPHeaderFilter: names as written (compared case-insensitively when applied). */
export interface HeaderModifier {
  readonly set: readonly HeaderValue[];
  readonly add: readonly HeaderValue[];
  readonly remove: readonly string[];
}

export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly value: string }
  /** Replaces the prefix the rule's PathPrefix match matched (`matchedPrefix` is that prefix). */
  | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly modifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly modifier: HeaderModifier }
  | {
      readonly type: 'RequestRedirect';
      readonly scheme?: string;
      readonly hostname?: string;
      readonly path?: PathModifier;
      readonly port?: number;
      /** 301 or 302 (Gateway API core); 302 when the route did not say. */
      readonly statusCode: number;
    }
  | { readonly type: 'URLRewrite'; readonly hostname?: string; readonly path?: PathModifier }
  /**
   * An `ExtensionRef` filter naming an `ambit.dev/v1alpha1` HTTPFault, resolved by the controller (Istio's
   * VirtualService `fault` fields). Applied after the route is chosen: the abort (when drawn) answers at once with
   * `response_flags` FI; else the delay (when drawn) holds the request before it is forwarded, flag DI.
   */
  | { readonly type: 'Fault'; readonly fault: string; readonly delay?: FaultDelay; readonly abort?: FaultAbort }
  /**
   * A filter the controller could not resolve (an ExtensionRef to a missing or unknown object): the spec says the
   * filter must not be skipped and matching requests get a 500; `reason` says why (logged, and in the body).
   */
  | { readonly type: 'Invalid'; readonly reason: string };

export interface FaultDelay {
  /** 0–100, fractions allowed (Istio's `percentage.value`). */
  readonly percent: number;
  readonly fixedDelayMs: number;
}

/** Exactly one of httpStatus and grpcStatus. A gRPC abort answers HTTP 200 with that `grpc-status` (as Envoy). */
export interface FaultAbort {
  readonly percent: number;
  readonly httpStatus?: number;
  readonly grpcStatus?: number;
}

/** A backendRef resolved to a Service in the mesh model (`namespace/hostname` key) and port. */
export interface RouteBackend {
  readonly weight: number;
  /**
   * The Service, or absent when the reference is invalid (unknown Service, wrong kind, missing port, not permitted
   * across namespaces): requests that pick it get 500, as the spec requires, and `invalidReason` says why.
   */
  readonly service?: { readonly namespace: string; readonly hostname: string; readonly port: number };
  readonly invalidReason?: string;
  /** Only header modifiers are allowed on a backendRef here. */
  readonly filters: readonly RouteFilter[];
}

/** Gateway API HTTPRouteRetry (GEP-1731). */
export interface RetryPolicy {
  /** Retries after the first try (Istio counts the same way); 0 disables retries. */
  readonly attempts: number;
  /** HTTP status codes that are retried (connect failures and refused streams always are). */
  readonly codes: readonly number[];
  /** Base back-off between tries; absent: Envoy's default 25 ms, jittered and doubling. */
  readonly backoffMs?: number;
}

export interface RouteRule {
  /** `namespace/name` of the route object, for logs, metrics and `waypoint-config`. */
  readonly route: string;
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  /** Index of the rule in the route's `spec.rules`. */
  readonly ruleIndex: number;
  readonly filters: readonly RouteFilter[];
  /** Empty: the rule has no backendRefs; a request to it gets 500 unless a redirect filter answers it. */
  readonly backends: readonly RouteBackend[];
  /** `timeouts.request`: the whole exchange, retries included (504 when exceeded). Absent: none. */
  readonly requestTimeoutMs?: number;
  /** `timeouts.backendRequest`: each try to a backend. Absent: none. */
  readonly backendRequestTimeoutMs?: number;
  /** Absent: Istio's default policy (2 retries on connect failure, refused stream and 503). */
  readonly retry?: RetryPolicy;
}

/** One match of one rule, in precedence order (the waypoint takes the first that matches). */
export interface RouteEntry {
  readonly match: RouteMatch;
  /** Index into `RouteSet.rules`. */
  readonly rule: number;
}

/** The xDS resource: every route attached to one parent, flattened and sorted. */
export interface RouteSet {
  readonly parent: RouteParent;
  readonly rules: readonly RouteRule[];
  readonly entries: readonly RouteEntry[];
}

/** xDS resource name of a route set: `Service/<namespace>/<hostname>[:<port>]` or `Gateway/<namespace>/<name>`. */
export function routeSetKey(parent: RouteParent): string {
  if (parent.kind === 'Gateway') return `Gateway/${parent.namespace}/${parent.name}`;
  return `Service/${parent.namespace}/${parent.hostname}${parent.port === undefined ? '' : `:${parent.port}`}`;
}

/**
 * Ambit's own type (there is no Istio equivalent: istiod sends Envoy RDS). The Any's value is the RouteSet as UTF-8
 * JSON, checked field by field on decode (codec.ts): the waypoint is the only reader, and JSON keeps config dumps and
 * NACK messages readable.
 */
export const ROUTE_SET_TYPE_URL = 'type.googleapis.com/ambit.waypoint.RouteSet';

/** Istio's default retry policy for a route that sets none (reference istio-ambient.md §7). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 2, codes: [503] };
