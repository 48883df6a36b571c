import type { FieldReader } from '@ambit/core';
import { parseCidr, type Cidr, type ServiceAccountMatch, type StringMatch } from './core-model.ts';
import type { SourceView } from './security-objects.ts';

/**
 * AuthorizationPolicy values → Match values, with istiod's forms (authorization.go stringToMatch & co). Unlike
 * istiod, which silently drops an unparseable port or CIDR — and so widens an ALLOW match — a bad value rejects the
 * whole policy with its field path: Istio's admission webhook would have refused it anyway.
 */

/** `*` presence, `*x` suffix, `x*` prefix, else exact. */
export function stringMatch(value: string): StringMatch {
  if (value === '*') return { presence: true };
  if (value.startsWith('*')) return { suffix: value.slice(1) };
  if (value.endsWith('*')) return { prefix: value.slice(0, -1) };
  return { exact: value };
}

/** Principals are compared without the scheme (ztunnel strips `spiffe://` from the peer's identity). */
export function principalMatch(value: string): StringMatch {
  return stringMatch(value.startsWith('spiffe://') ? value.slice('spiffe://'.length) : value);
}

/** `ns/sa`, or a bare `sa` meaning the policy's own namespace. */
export function serviceAccountMatch(value: string, policyNamespace: string): ServiceAccountMatch {
  const slash = value.indexOf('/');
  return slash < 0
    ? { namespace: policyNamespace, serviceAccount: value }
    : { namespace: value.slice(0, slash), serviceAccount: value.slice(slash + 1) };
}

/** The identity fields of a `from[].source` and their `not` forms, alike in the L4 match and the L7 source. */
export interface SourceIdentity {
  readonly principals: StringMatch[];
  readonly notPrincipals: StringMatch[];
  readonly namespaces: StringMatch[];
  readonly notNamespaces: StringMatch[];
  readonly serviceAccounts: ServiceAccountMatch[];
  readonly notServiceAccounts: ServiceAccountMatch[];
}

export function sourceIdentity(src: SourceView, policyNamespace: string): SourceIdentity {
  return {
    principals: (src.principals ?? []).map(principalMatch),
    notPrincipals: (src.notPrincipals ?? []).map(principalMatch),
    namespaces: (src.namespaces ?? []).map(stringMatch),
    notNamespaces: (src.notNamespaces ?? []).map(stringMatch),
    serviceAccounts: (src.serviceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
    notServiceAccounts: (src.notServiceAccounts ?? []).map((v) => serviceAccountMatch(v, policyNamespace)),
  };
}

export function portValue(r: FieldReader, value: string, field: string): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 0 && port <= 65535)) return r.fail(field, `${JSON.stringify(value)} is not a port 0..65535`);
  return port;
}

export function cidrValue(r: FieldReader, value: string, field: string): Cidr {
  try {
    return parseCidr(value);
  } catch {
    return r.fail(field, `${JSON.stringify(value)} is not an IP address or CIDR`);
  }
}
