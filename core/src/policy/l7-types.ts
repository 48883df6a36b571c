import type { Cidr, ServiceAccountMatch, StringMatch } from '../model/types.ts';

/**
 * The L7 authorization model a waypoint enforces per request: what the controller computes from a
 * `security.istio.io/v1` AuthorizationPolicy with `targetRefs` (kind Gateway = the waypoint, kind Service = a Service
 * it serves) and pushes over xDS, one resource per policy. Plain readonly data, like the L4 model (`../model/types.ts`),
 * with Istio's semantics (reference istio-ambient.md §6, https://istio.io/latest/docs/reference/config/security/authorization-policy/):
 * - rules of a policy OR; within a rule `from`, `to` and every `when` condition AND; the sources of `from` OR, the
 *   operations of `to` OR; within a source or operation every populated field must match (values of one field OR)
 *   and no value of a `not*` field may match;
 * - a rule with no from/to/when matches every request; a policy with no rules matches none (so an ALLOW with
 *   `spec: {}` allows nothing);
 * - decision as at L4 (`decide` in authorize.ts): a matching enforced DENY refuses; with no enforced ALLOW the request
 *   is allowed; otherwise one enforced ALLOW must match; dry-run policies (`istio.io/dry-run`) only report.
 * What the waypoint cannot enforce never widens an ALLOW or narrows a DENY: the controller drops such a rule from an
 * ALLOW and keeps it in a DENY without the unenforceable part (as the L4 conversion does), and says so in the status.
 */

/** What a policy applies to. A Service target applies to requests addressed to that Service only. */
export type L7Target =
  | { readonly kind: 'Gateway'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'Service'; readonly namespace: string; readonly hostname: string };

/** One `from[].source`. Principals and namespaces are those of the original caller (its SPIFFE ID). */
export interface L7Source {
  /** Compared without `spiffe://` (`cluster.local/ns/N/sa/S`). */
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
  /** The original caller's IP (`source.ip`). */
  readonly ipBlocks: readonly Cidr[];
  readonly notIpBlocks: readonly Cidr[];
  /** The client IP as `x-forwarded-for` tells it (its first entry), else the caller's IP (`remote.ip`). */
  readonly remoteIpBlocks: readonly Cidr[];
  readonly notRemoteIpBlocks: readonly Cidr[];
}

/** One `to[].operation`. Hosts compare case-insensitively (lower-cased here), with or without the port. */
export interface L7Operation {
  readonly hosts: readonly StringMatch[];
  readonly notHosts: readonly StringMatch[];
  /** The Service port the request was addressed to. */
  readonly ports: readonly number[];
  readonly notPorts: readonly number[];
  /** Exact upper-case methods (or prefix/suffix/presence forms, as Istio's string matchers allow). */
  readonly methods: readonly StringMatch[];
  readonly notMethods: readonly StringMatch[];
  /** The path without its query string. */
  readonly paths: readonly StringMatch[];
  readonly notPaths: readonly StringMatch[];
}

/** One `when` condition: the request attribute `key` must match one of `values` and none of `notValues`. */
export type L7Condition =
  | {
      readonly key: 'request.headers';
      /** Lower-case header name (`request.headers[X-Tenant]` → `x-tenant`). */
      readonly header: string;
      readonly values: readonly StringMatch[];
      readonly notValues: readonly StringMatch[];
    }
  | { readonly key: 'source.ip' | 'remote.ip'; readonly values: readonly Cidr[]; readonly notValues: readonly Cidr[] }
  | {
      readonly key: 'source.namespace' | 'source.principal' | 'connection.sni';
      readonly values: readonly StringMatch[];
      readonly notValues: readonly StringMatch[];
    }
  | { readonly key: 'destination.port'; readonly values: readonly number[]; readonly notValues: readonly number[] };

/** Sources OR, operations OR, conditions AND; an empty list is "no constraint". */
export interface L7Rule {
  readonly from: readonly L7Source[];
  readonly to: readonly L7Operation[];
  readonly when: readonly L7Condition[];
}

export interface L7Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly action: 'ALLOW' | 'DENY';
  readonly dryRun: boolean;
  /** Never empty: a policy without a target the waypoint understands is not published. */
  readonly targets: readonly L7Target[];
  readonly rules: readonly L7Rule[];
}

/** What the waypoint knows of one request when it decides (the same facts `ambitctl policy explain` builds). */
export interface L7RequestFacts {
  /** The original caller's SPIFFE ID (from the HBONE client certificate); undefined when unknown. */
  readonly sourceIdentity: string | undefined;
  /** The original caller's IP. */
  readonly sourceIp: string;
  /** First `x-forwarded-for` entry, else `sourceIp`. */
  readonly remoteIp: string;
  /** `:authority`/Host as received (may carry a port). */
  readonly host: string;
  /** The Service port addressed (the tunnel's `:authority` port). */
  readonly destinationPort: number;
  /** Upper-case. */
  readonly method: string;
  /** Without the query string. */
  readonly path: string;
  /** Lower-case name; several values joined with ','; undefined when absent. */
  header(name: string): string | undefined;
  /** TLS SNI of the connection carrying the request; undefined for plaintext HTTP inside HBONE. */
  readonly sni: string | undefined;
}

/**
 * Ambit's own xDS type (istiod sends Envoy RBAC filters instead): the Any's value is the L7Authorization as UTF-8 JSON,
 * checked field by field on decode (NACK naming the field). Resource name `namespace/name` (l7AuthorizationKey).
 */
export const L7_AUTHORIZATION_TYPE_URL = 'type.googleapis.com/ambit.waypoint.L7Authorization';

export const l7AuthorizationKey = (p: Pick<L7Authorization, 'namespace' | 'name'>): string => `${p.namespace}/${p.name}`;

/** The body of a 403 from L7 authorization: Envoy's RBAC filter's text, which clients and tests already look for. */
export const RBAC_DENIED_BODY = 'RBAC: access denied';
