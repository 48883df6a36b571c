import { X509Certificate, hkdfSync } from 'node:crypto';
import type { Logger } from '@ambit/core';
import {
  createCaCertificate,
  generateP256KeyPair,
  issueLeafCertificate,
  parseSpiffeUri,
  privateKeyPem,
  type SpiffeIdentity,
} from './core-identity.ts';
import { CaError } from './ca-error.ts';
import { validateCaMaterial, type SigningAuthority } from './ca-material.ts';
import { checkCsr } from './csr-policy.ts';
import type { PluggedCaSource, RootStore } from './root-store.ts';

const DAY_SECONDS = 24 * 60 * 60;
/** istiod's DEFAULT_WORKLOAD_CERT_TTL. */
export const DEFAULT_TTL_SECONDS = DAY_SECONDS;
/** istiod's MAX_WORKLOAD_CERT_TTL. */
export const DEFAULT_MAX_TTL_SECONDS = 90 * DAY_SECONDS;
/** istiod's self-signed root lifetime (3650 d). */
const ROOT_VALIDITY_SECONDS = 3650 * DAY_SECONDS;
/** Back-dating of notBefore, so a peer whose clock is a little behind ours accepts a fresh certificate. */
const CLOCK_SKEW_MS = 60_000;

export interface MeshCaOptions {
  /** Trust domain of every identity this CA signs, e.g. `cluster.local`. */
  readonly trustDomain: string;
  /** Keeps the self-generated root across restarts. */
  readonly rootStore: RootStore;
  /** User-supplied intermediate (Istio's `cacerts`); when it holds material, it is used instead of the root store. */
  readonly pluggedCa?: PluggedCaSource;
  /** TTL when a request asks for ≤ 0 s; default 86400 s. */
  readonly defaultTtlSeconds?: number;
  /** Longest leaf lifetime; longer requests are clamped to it. Default 7776000 s (90 d). */
  readonly maxTtlSeconds?: number;
  /** Default `() => new Date()`. */
  readonly now?: () => Date;
  readonly log: Logger;
}

export interface SignRequest {
  readonly csrPem: string;
  /** SPIFFE URI the leaf will carry (already authorised by the caller). */
  readonly identity: string;
  /** Requested lifetime; ≤ 0 or absent means the default. */
  readonly ttlSeconds?: number;
}

export interface MeshCa {
  readonly trustDomain: string;
  /**
   * Where the signing material came from: a plug-in CA, a root stored earlier, or a root generated at this start
   * (by this replica or, when replicas raced, by the one whose save won).
   */
  readonly source: 'plugged' | 'stored' | 'generated';
  /** The trust anchor, for the controller to publish (ConfigMap `istio-ca-root-cert`, key `root-cert.pem`). */
  rootCertPem(): string;
  /** Checks the CSR and issues a leaf for `identity`; `certChain` is leaf first, root last. */
  signCsr(request: SignRequest): Promise<{ certChain: string[] }>;
  /** Parses `identity` and requires our trust domain; throws CaError otherwise. */
  checkIdentity(identity: string): SpiffeIdentity;
  /**
   * A 32-byte key for `purpose` (HKDF-SHA256 over the signing key), the same in every replica that loaded the same
   * material and different for every purpose; it changes when the CA's key does.
   */
  deriveKey(purpose: string): Buffer;
  /**
   * A serving certificate for the controller itself (gRPC on :15012): a fresh P-256 key, the SPIFFE identity plus
   * DNS names proxies dial (`ambit-controller.ambit-system.svc`). Not reachable through CreateCertificate, whose
   * CSR policy allows exactly one URI SAN.
   */
  issueServingCertificate(request: {
    identity: string;
    dnsNames: readonly string[];
    ttlSeconds: number;
  }): Promise<{ keyPem: string; certChainPem: string }>;
}

async function generateRoot(now: Date): Promise<{ certPem: string; keyPem: string }> {
  return createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: ['Ambit Root CA'] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + ROOT_VALIDITY_SECONDS * 1000),
  });
}

/** Chooses the signing material: plugged CA if present, else the stored root, else a new root that is stored first. */
async function loadAuthority(options: MeshCaOptions, now: Date): Promise<{ authority: SigningAuthority; source: MeshCa['source'] }> {
  const plugged = await options.pluggedCa?.load();
  if (plugged !== undefined && options.pluggedCa !== undefined) {
    return { authority: await validateCaMaterial(plugged, options.pluggedCa.description, now), source: 'plugged' };
  }
  const stored = await options.rootStore.load();
  if (stored !== undefined) return { authority: await validateCaMaterial(stored, 'the root store', now), source: 'stored' };

  await options.rootStore.save(await generateRoot(now));
  // Load back rather than use what we generated: another replica may have stored its root first, and every replica
  // must sign with the same one.
  const saved = await options.rootStore.load();
  if (saved === undefined) throw new CaError('CA_STORE_FAILED', 'the root store returned nothing right after saving the new root');
  return { authority: await validateCaMaterial(saved, 'the root store', now), source: 'generated' };
}

/**
 * The mesh CA: loads or creates its signing material once (failing start-up on bad material) and signs workload
 * CSRs. Authentication and authorisation of callers are the gRPC service's job (ca-service.ts).
 */
export async function createMeshCa(options: MeshCaOptions): Promise<MeshCa> {
  const now = options.now ?? (() => new Date());
  const defaultTtlSeconds = options.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS;
  const maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
  if (!(defaultTtlSeconds > 0 && maxTtlSeconds >= defaultTtlSeconds)) {
    throw new CaError('CA_MATERIAL_INVALID', `CA TTLs must satisfy 0 < default (${defaultTtlSeconds} s) ≤ max (${maxTtlSeconds} s)`);
  }
  parseSpiffeUri(`spiffe://${options.trustDomain}/ns/x/sa/y`); // rejects a malformed trust domain at start-up
  const { authority, source } = await loadAuthority(options, now());
  const log = options.log.child({ component: 'mesh-ca' });
  const rootFingerprint = new X509Certificate(authority.rootPem).fingerprint256;
  log.info({ source, rootFingerprint, notAfter: authority.notAfter.toISOString(), chainLength: authority.chainPems.length }, 'CA ready');

  const checkIdentity = (identity: string): SpiffeIdentity => {
    let parsed: SpiffeIdentity;
    try {
      parsed = parseSpiffeUri(identity);
    } catch (err) {
      throw new CaError('CA_INVALID_IDENTITY', (err as Error).message, { cause: err });
    }
    if (parsed.trustDomain !== options.trustDomain) {
      throw new CaError(
        'CA_FOREIGN_TRUST_DOMAIN',
        `identity ${identity} is in trust domain ${parsed.trustDomain}, not ${options.trustDomain}`,
      );
    }
    return parsed;
  };

  return {
    trustDomain: options.trustDomain,
    source,
    rootCertPem: () => authority.rootPem,
    checkIdentity,
    deriveKey: (purpose) => Buffer.from(hkdfSync('sha256', authority.keyDer, 'ambit.dev/mesh-ca', purpose, 32)),
    async signCsr(request) {
      checkIdentity(request.identity);
      const publicKey = await checkCsr(request.csrPem, request.identity);
      const requested = request.ttlSeconds ?? 0;
      // ≤ 0 means "CA default", as in istiod. Above the maximum we clamp, where istiod refuses with TTLError
      // (security/pkg/pki/ca/ca.go): a node proxy configured with a longer SECRET_TTL still gets a usable
      // certificate, just a shorter one, and rotates at its half-life as usual.
      const ttlSeconds = requested <= 0 ? defaultTtlSeconds : Math.min(requested, maxTtlSeconds);
      const issuedAt = now();
      const notAfter = new Date(Math.min(issuedAt.getTime() + ttlSeconds * 1000, authority.notAfter.getTime()));
      if (notAfter <= issuedAt) throw new CaError('CA_NOT_READY', `the CA chain expired at ${authority.notAfter.toISOString()}`);
      const leaf = await issueLeafCertificate({
        publicKey,
        sans: [{ type: 'url', value: request.identity }],
        notBefore: new Date(issuedAt.getTime() - CLOCK_SKEW_MS),
        notAfter,
        issuer: authority.issuer,
      });
      return { certChain: [leaf, ...authority.chainPems] };
    },
    async issueServingCertificate(request) {
      checkIdentity(request.identity);
      const keys = await generateP256KeyPair();
      const issuedAt = now();
      const notAfter = new Date(Math.min(issuedAt.getTime() + request.ttlSeconds * 1000, authority.notAfter.getTime()));
      const leaf = await issueLeafCertificate({
        publicKey: keys.publicKey,
        sans: [{ type: 'url', value: request.identity }, ...request.dnsNames.map((value) => ({ type: 'dns' as const, value }))],
        notBefore: new Date(issuedAt.getTime() - CLOCK_SKEW_MS),
        notAfter,
        issuer: authority.issuer,
      });
      return { keyPem: await privateKeyPem(keys.privateKey), certChainPem: [leaf, ...authority.chainPems].join('') };
    },
  };
}
