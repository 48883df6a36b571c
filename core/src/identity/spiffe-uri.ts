import { IdentityError } from './identity-error.ts';

// A private, minimal SPIFFE parser. core/src/model/spiffe.ts (another engineer's) becomes the one parser once it
// lands; until then this file keeps the CA and its client from depending on unfinished code. Replace, don't extend.

/** An Istio workload identity: `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`. */
export interface SpiffeIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The canonical URI form. */
  readonly uri: string;
}

// SPIFFE ID spec §2.1: trust domain is lowercase letters, digits, '.', '-', '_'; §2.2: path segments use letters,
// digits, '.', '-', '_' and are not '.' or '..'. Kubernetes names are stricter still, so this accepts all of them.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_URI_CHARS = 2048;

function validSegment(s: string): boolean {
  return SEGMENT.test(s) && s !== '.' && s !== '..';
}

/** Parses an Istio-shaped SPIFFE URI; throws IdentityError `INVALID_SPIFFE_ID` naming what is wrong. */
export function parseSpiffeUri(uri: string): SpiffeIdentity {
  const fail = (why: string): never => {
    throw new IdentityError('INVALID_SPIFFE_ID', `invalid SPIFFE identity ${JSON.stringify(uri.slice(0, 200))}: ${why}`);
  };
  if (uri.length > MAX_URI_CHARS) fail(`longer than ${MAX_URI_CHARS} characters`);
  if (!uri.startsWith('spiffe://')) fail('must start with spiffe://');
  const parts = uri.slice('spiffe://'.length).split('/');
  const [trustDomain = '', ns, namespace = '', sa, serviceAccount = ''] = parts;
  if (!TRUST_DOMAIN.test(trustDomain)) fail('trust domain must be lowercase letters, digits, ".", "-" or "_"');
  if (parts.length !== 5 || ns !== 'ns' || sa !== 'sa') fail('path must be /ns/<namespace>/sa/<service-account>');
  if (!validSegment(namespace)) fail('bad namespace segment');
  if (!validSegment(serviceAccount)) fail('bad service account segment');
  return { trustDomain, namespace, serviceAccount, uri };
}

/** Builds the canonical URI; the parts are validated by parsing the result. */
export function spiffeUri(trustDomain: string, namespace: string, serviceAccount: string): string {
  return parseSpiffeUri(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`).uri;
}
