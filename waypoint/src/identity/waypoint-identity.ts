import { readFile } from 'node:fs/promises';
import { errorMessage, type BackoffOptions, type Clock, type Logger } from '@ambit/core';
import { createCaClient, createCertManager, splitPemCertificates, type CertStatus, type WorkloadCert } from '@ambit/core/identity';

/** Where the waypoint's CA credential comes from (contract 3 and 6). */
export type CaCredential =
  /** A projected ServiceAccount token (audience `ambit-ca`), re-read per fetch: the kubelet rotates it. */
  | { readonly file: string }
  /** A credential given inline (`AMBIT_CA_TOKEN`, local mode: the controller's per-ServiceAccount HMAC). */
  | { readonly value: string };

export interface WaypointIdentityOptions {
  /** The CA's gRPC target (the controller): `unix:/path` or `host:port`. */
  readonly caTarget: string;
  /** The waypoint's SPIFFE ID: the only identity it asks for. */
  readonly identity: string;
  readonly credential: CaCredential;
  /** PEM file of extra mesh roots (the `istio-ca-root-cert` ConfigMap), re-read with each fetch; optional. */
  readonly rootCertFile?: string;
  /** Verify the CA's TLS against these roots; absent: plaintext (a `unix:` target). */
  readonly caTls?: { readonly ca: string };
  /** Lifetime asked of the CA; default the manager's (86400 s). */
  readonly ttlSeconds?: number;
  readonly clock?: Clock;
  readonly backoff?: BackoffOptions;
  readonly log: Logger;
}

export interface WaypointIdentity {
  readonly identity: string;
  /** The currently valid certificate, or undefined before the first one arrived (or after it expired unrenewed). */
  current(): WorkloadCert | undefined;
  /** Waits for a valid certificate (bounded by the manager's wait); what the upstream HBONE pool presents. */
  certFor(): Promise<WorkloadCert>;
  /** Roots peers must chain to: the CA's root of the current certificate plus the root file's. */
  roots(): readonly string[];
  state(): CertStatus[];
  close(): void;
}

/**
 * The waypoint's one certificate (its ServiceAccount's SPIFFE ID), from the controller's CA through core's CA client
 * and certificate manager: fetched at start, renewed at half-life, retried with backoff while the still-valid one keeps
 * being served (reference istio-ambient.md §5).
 */
export function createWaypointIdentity(o: WaypointIdentityOptions): WaypointIdentity {
  const log = o.log.child({ component: 'identity' });
  let fileRoots: readonly string[] = [];
  const readRoots = async (): Promise<void> => {
    if (o.rootCertFile === undefined) return;
    try {
      fileRoots = splitPemCertificates(await readFile(o.rootCertFile, 'utf8'));
    } catch (err) {
      // The CA's own root still arrives with every certificate; a missing file only loses the extra roots.
      log.warn({ file: o.rootCertFile, err: errorMessage(err) }, 'cannot read the root certificate file; keeping the last one read');
    }
  };
  const credential = o.credential;
  const token = async (): Promise<string> => ('file' in credential ? (await readFile(credential.file, 'utf8')).trim() : credential.value);
  const ca = createCaClient({ target: o.caTarget, token, ...(o.caTls === undefined ? {} : { tls: o.caTls }) });
  const certs = createCertManager({
    fetch: async (identity, ttl) => {
      await readRoots();
      return ca.fetchCertificate(identity, ttl);
    },
    ...(o.ttlSeconds === undefined ? {} : { ttlSeconds: o.ttlSeconds }),
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    log,
  });
  certs.track(o.identity);
  return {
    identity: o.identity,
    current: () => certs.current(o.identity),
    certFor: () => certs.certFor(o.identity),
    roots() {
      const fromCa = certs.current(o.identity)?.roots ?? [];
      if (fileRoots.length === 0) return fromCa;
      return [...new Set([...fromCa, ...fileRoots])];
    },
    state: () => certs.state(),
    close() {
      certs.close();
      ca.close();
    },
  };
}
