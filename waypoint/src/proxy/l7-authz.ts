import { authorizeRequest, l7RequestPath, RBAC_DENIED_BODY, type L7RequestFacts } from '@ambit/core/policy';
import type { Exchange } from './exchange.ts';
import { headerValue } from './headers.ts';
import type { RequestRecord } from './proxy-inputs.ts';
import type { TunnelContext } from './request-path.ts';

/**
 * Stage (1) of the request path: the L7 AuthorizationPolicies of the addressed Service and of this waypoint's Gateway
 * (core's authorizeRequest, the code `ambitctl policy explain` runs), decided before routing, as Envoy's RBAC filter
 * runs before the router. A denial is answered here with Envoy's 403 `RBAC: access denied`; dry-run policies only
 * show in the record (and so on the access line).
 */

export type AuthzRecord = NonNullable<RequestRecord['authz']>;

const DENIED = Buffer.from(RBAC_DENIED_BODY);
const DENIED_HEADERS: ReadonlyArray<[string, string]> = [
  ['content-type', 'text/plain'],
  ['content-length', String(DENIED.length)],
];

/** The decision for `ex`, or undefined when no policy applies (nothing to record). */
export function authorizeExchange(ctx: TunnelContext, ex: Exchange): AuthzRecord | undefined {
  const policies = ctx.inputs.state.l7PoliciesFor(ctx.destination.service);
  if (policies.length === 0) return undefined;
  const d = authorizeRequest(policies, requestFacts(ctx, ex));
  return {
    allow: d.allow,
    ...(d.policy === undefined ? {} : { policy: d.policy }),
    ...(d.rule === undefined ? {} : { rule: d.rule }),
    ...(d.dryRun === undefined ? {} : { dryRun: d.dryRun }),
  };
}

/** Answers a denied request (HTTP/1.1 and HTTP/2 alike; a gRPC client maps the 403 to PERMISSION_DENIED). */
export function sendDenied(ex: Exchange): number {
  ex.respond(403, [...DENIED_HEADERS], false);
  ex.out.write(DENIED);
  ex.finish(undefined);
  return DENIED.length;
}

/**
 * What the policies may look at (L7RequestFacts): the original caller is the tunnel's peer identity and address (the
 * source ztunnel's, which forwards the caller's identity), `remote.ip` the first `x-forwarded-for` entry the client
 * sent, the destination port the one the tunnel addressed, the path normalised as Envoy's RBAC filter sees it.
 */
export function requestFacts(ctx: TunnelContext, ex: Exchange): L7RequestFacts {
  const xff = headerValue(ex.headers, 'x-forwarded-for');
  const firstHop = xff?.split(',')[0]?.trim();
  return {
    sourceIdentity: ctx.sourcePrincipal === '' ? undefined : ctx.sourcePrincipal,
    sourceIp: ctx.clientIp,
    remoteIp: firstHop === undefined || firstHop === '' ? ctx.clientIp : firstHop,
    host: ex.authority,
    destinationPort: ctx.destination.servicePort ?? ctx.destination.targetPort,
    method: ex.method.toUpperCase(),
    path: l7RequestPath(ex.target),
    // Repeated headers joined with ',', as Envoy's header matcher sees them.
    header: (name) => headerValue(ex.headers, name),
    sni: undefined,
  };
}
