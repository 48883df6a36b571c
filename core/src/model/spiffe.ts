import { AmbitError } from '../errors.ts';

/**
 * SPIFFE IDs as Istio uses them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`
 * (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md). ztunnel's parser accepts exactly this shape —
 * five path segments with the `ns` and `sa` literals — and so does ours, so both sides agree on what an identity is.
 */
export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';
// The SPIFFE spec allows only these characters in a trust domain; path segments may not be empty, `.` or `..`.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Parses `spiffe://<td>/ns/<ns>/sa/<sa>`; throws AmbitError `INVALID_SPIFFE_ID` naming what is wrong. */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (why: string): never => {
    throw new AmbitError('INVALID_SPIFFE_ID', `invalid SPIFFE ID ${JSON.stringify(text)}: ${why}`);
  };
  if (!text.startsWith(SCHEME)) return fail(`must start with ${SCHEME}`);
  const parts = text.slice(SCHEME.length).split('/');
  if (parts.length !== 5) return fail('want exactly <trust-domain>/ns/<namespace>/sa/<service-account>');
  const [trustDomain = '', nsLiteral, namespace = '', saLiteral, serviceAccount = ''] = parts;
  if (!TRUST_DOMAIN.test(trustDomain)) return fail('trust domain is empty or has characters outside [a-z0-9._-]');
  if (nsLiteral !== 'ns') return fail('second segment must be "ns"');
  if (saLiteral !== 'sa') return fail('fourth segment must be "sa"');
  for (const [what, value] of [
    ['namespace', namespace],
    ['service account', serviceAccount],
  ] as const) {
    if (!SEGMENT.test(value) || value === '.' || value === '..') return fail(`${what} segment is empty or invalid`);
  }
  return { trustDomain, namespace, serviceAccount };
}
