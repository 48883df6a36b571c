import type { ConnectionOptions, PeerCertificate, SecureContextOptions } from 'node:tls';
import { parseSpiffeId } from '../model/spiffe.ts';
import { HboneError } from './errors.ts';

/**
 * TLS settings of HBONE, both ends (reference istio-ambient.md §1 "mTLS details", ztunnel src/tls/certificate.rs):
 * TLS 1.3 only, ALPN exactly `h2`, AES-GCM suites only (no ChaCha20), no SNI, no session resumption.
 */
export const HBONE_ALPN = 'h2';
/** Node takes TLS 1.3 suites in `ciphers` (names starting `TLS_` go to SSL_CTX_set_ciphersuites). */
export const HBONE_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

/** A workload's certificate: PKCS#8 key PEM, and the chain leaf first (intermediates and root may follow). */
export interface WorkloadCert {
  readonly key: string;
  readonly certChain: readonly string[];
}

const BASE = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: HBONE_CIPHERS,
  ALPNProtocols: [HBONE_ALPN],
} as const;

/**
 * URI SANs of a peer certificate from Node's `subjectaltname` text. Node (≥ 17.3, CVE-2021-44532) JSON-quotes any
 * SAN value holding a separator or quote, so a quoted value is decoded and a bare one ends at the next `, `.
 */
export function uriSansOf(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  const text = cert.subjectaltname ?? '';
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // Find the closing quote that is not escaped, then let JSON decode the escapes.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        value = '';
      }
      next = text.indexOf(', ', j);
    } else {
      next = text.indexOf(', ', colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    if (type === 'URI') out.push(value);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/**
 * The client's check of the server (ztunnel's IdentityVerifier): Node has already verified the chain against `ca`;
 * this replaces the hostname check, which fails on URI-only certificates, with "one of the leaf's URI SANs is one of
 * the identities we expect" (the destination workload's, or a SAN its service lists).
 */
export function verifyServerIdentity(expected: readonly string[], cert: PeerCertificate): HboneError | undefined {
  const sans = uriSansOf(cert);
  if (sans.some((san) => expected.includes(san))) return undefined;
  return new HboneError(
    'PEER_IDENTITY_MISMATCH',
    `server identity ${sans.length > 0 ? sans.join(', ') : '(no URI SAN)'} is not one of the expected ${expected.join(', ')}`,
  );
}

/**
 * The server's check of the client (ztunnel's TrustDomainVerifier): exactly one URI SAN, a SPIFFE ID in our trust
 * domain. Which identity may connect is left to authorization. Returns the SPIFFE ID.
 */
export function verifyClientIdentity(trustDomain: string, cert: PeerCertificate): string {
  const sans = uriSansOf(cert);
  const [san] = sans;
  if (sans.length !== 1 || san === undefined) {
    throw new HboneError('PEER_IDENTITY_INVALID', `client certificate must carry exactly one URI SAN, has ${sans.length}`);
  }
  let td: string;
  try {
    td = parseSpiffeId(san).trustDomain;
  } catch (err) {
    throw new HboneError('PEER_IDENTITY_INVALID', `client URI SAN ${JSON.stringify(san)} is not a SPIFFE ID`, { cause: err });
  }
  if (td !== trustDomain) {
    throw new HboneError('PEER_IDENTITY_INVALID', `client identity ${san} is outside trust domain ${trustDomain}`);
  }
  return san;
}

/**
 * Options for `tls.connect({ socket, ...clientTlsOptions(…) })`. No `servername` (so no SNI: servers pick the
 * certificate by destination address) and no `session` (no resumption, as ztunnel's client config).
 */
export function clientTlsOptions(cert: WorkloadCert, roots: readonly string[], dstIdentities: readonly string[]): ConnectionOptions {
  return {
    ...BASE,
    ALPNProtocols: [...BASE.ALPNProtocols],
    key: cert.key,
    cert: cert.certChain.join('\n'),
    ca: [...roots],
    rejectUnauthorized: true,
    checkServerIdentity: (_host, peer) => verifyServerIdentity(dstIdentities, peer),
  };
}

/**
 * Secure-context options for the server side of one destination workload. Client certificates are requested and
 * verified against `roots` by the TLS socket (`requestCert`, `rejectUnauthorized` are socket options, see server.ts).
 */
export function serverContextOptions(cert: WorkloadCert, roots: readonly string[]): SecureContextOptions {
  return {
    minVersion: BASE.minVersion,
    maxVersion: BASE.maxVersion,
    ciphers: BASE.ciphers,
    key: cert.key,
    cert: cert.certChain.join('\n'),
    ca: [...roots],
  };
}

/** The socket options that go with `serverContextOptions` (require a client certificate chaining to the roots). */
export const SERVER_SOCKET_TLS = { requestCert: true, rejectUnauthorized: true, ALPNProtocols: [HBONE_ALPN] } as const;
