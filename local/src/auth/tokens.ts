import { createHash, createPrivateKey, createPublicKey, generateKeyPair, randomUUID, sign, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';

/**
 * ServiceAccount tokens as kube-apiserver issues and checks them (pkg/serviceaccount/{jwt,claims}.go): RS256 JWTs
 * signed with the cluster's key, with the `kubernetes.io` private claims that bind a token to its ServiceAccount and,
 * optionally, to a Pod or Secret (and the Pod's Node). A token stops verifying once what it is bound to is gone or
 * was recreated (another uid), exactly as in a cluster.
 */

export interface TokenRequestSpec {
  namespace: string;
  serviceAccount: string;
  audiences?: readonly string[];
  expirationSeconds?: number;
  boundObject?: { kind: 'Pod' | 'Secret'; name: string; uid: string };
  nodeName?: string;
}

export interface IssuedToken {
  token: string;
  expirationTimestamp: string;
}

export interface UserInfo {
  username: string;
  uid: string;
  groups: readonly string[];
  extra?: Record<string, readonly string[]>;
}

/** Shared contract 3 of issue 15: what the kubelet and the API use. */
export interface ServiceAccountTokens {
  /** A JWT signed with the cluster's key; throws ApiError (404 no ServiceAccount, 409 bound object uid, 422 expiry). */
  issue(req: TokenRequestSpec): IssuedToken;
  /** The token's user, or undefined when it is not a valid ServiceAccount token for one of `audiences`. */
  verify(token: string, audiences?: readonly string[]): UserInfo | undefined;
}

/** What TokenReview reports: the user and the audiences it was accepted for, or why it was refused. */
export type TokenAuthResult =
  { readonly ok: true; readonly user: UserInfo; readonly audiences: readonly string[] } | { readonly ok: false; readonly error: string };

export interface LocalServiceAccountTokens extends ServiceAccountTokens {
  /** As `verify`, saying why a token was refused (TokenReview's `status.error`). */
  authenticate(token: string, audiences?: readonly string[]): TokenAuthResult;
  /** The issuer and the default audiences (the API server's own). */
  readonly issuer: string;
  readonly apiAudiences: readonly string[];
}

/** The kinds a token can be bound to, read from the cluster's store. */
export type TokenObjectKind = 'ServiceAccount' | 'Pod' | 'Secret' | 'Node';

export interface ServiceAccountTokensOptions {
  /** The cluster's RSA private key (see loadOrCreateSigningKey). */
  readonly signingKey: KeyObject;
  /** Reads an object of the cluster (namespace undefined for Nodes); undefined when absent. */
  readonly find: (kind: TokenObjectKind, namespace: string | undefined, name: string) => KubeObject | undefined;
  /** `iss` of issued tokens and the only one accepted; default kube-apiserver's `https://kubernetes.default.svc.cluster.local`. */
  readonly issuer?: string;
  /** Audiences of a token request without any, and the ones `verify` accepts by default; default `[issuer]`. */
  readonly apiAudiences?: readonly string[];
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** What the kubelet asks for (kube-apiserver's "warn after" magic number: 1 h + 7 s). */
export const DEFAULT_EXPIRATION_SECONDS = 3607;
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
/** go-jose's default leeway for exp/nbf/iat, which kube-apiserver's validator uses. */
const LEEWAY_SECONDS = 60;
/** A bound pod being deleted invalidates its tokens this long after its deletionTimestamp (upstream: 60 s). */
const DELETED_POD_GRACE_SECONDS = 60;

const TOKEN_REQUEST = { group: 'authentication.k8s.io', plural: 'tokenrequests', kind: 'TokenRequest' };
const SERVICE_ACCOUNTS = { group: '', plural: 'serviceaccounts', kind: 'ServiceAccount' };

interface ObjectRef {
  name: string;
  uid: string;
}

interface KubernetesClaims {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
}

export function createServiceAccountTokens(opts: ServiceAccountTokensOptions): LocalServiceAccountTokens {
  const issuer = opts.issuer ?? DEFAULT_ISSUER;
  const apiAudiences = opts.apiAudiences ?? [issuer];
  const now = opts.now ?? Date.now;
  const publicKey = createPublicKey(opts.signingKey);
  const kid = keyId(publicKey);

  function issue(req: TokenRequestSpec): IssuedToken {
    const expirationSeconds = req.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
    if (!Number.isInteger(expirationSeconds) || expirationSeconds < MIN_EXPIRATION_SECONDS || expirationSeconds > MAX_EXPIRATION_SECONDS) {
      const message =
        expirationSeconds > MAX_EXPIRATION_SECONDS
          ? 'may not specify a duration larger than 2^32 seconds'
          : 'may not specify a duration less than 10 minutes';
      throw ApiError.invalid(TOKEN_REQUEST, '', [
        { field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: ${message}`, reason: 'FieldValueInvalid' },
      ]);
    }
    const sa = opts.find('ServiceAccount', req.namespace, req.serviceAccount);
    if (sa === undefined) throw ApiError.notFound(SERVICE_ACCOUNTS, req.serviceAccount);
    const claims: KubernetesClaims = {
      namespace: req.namespace,
      serviceaccount: { name: req.serviceAccount, uid: sa.metadata.uid ?? '' },
    };
    let nodeName = req.nodeName;
    if (req.boundObject !== undefined) {
      const { kind, name, uid } = req.boundObject;
      const bound = opts.find(kind, req.namespace, name);
      if (bound === undefined) throw ApiError.notFound({ group: '', plural: kind === 'Pod' ? 'pods' : 'secrets', kind }, name);
      if (uid !== '' && bound.metadata.uid !== uid) {
        // Upstream names the resource by Kind here (schema.GroupResource{Resource: gvk.Kind}).
        throw ApiError.conflict(
          { group: '', plural: kind, kind },
          name,
          `the UID in the bound object reference (${uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      }
      if (kind === 'Pod') {
        const spec = asRecord(bound['spec']);
        if ((spec['serviceAccountName'] ?? 'default') !== req.serviceAccount)
          throw ApiError.badRequest(
            `cannot bind token for serviceaccount "${req.serviceAccount}" to pod running with different serviceaccount name.`,
          );
        if (nodeName === undefined && typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '') nodeName = spec['nodeName'];
        claims.pod = { name, uid: bound.metadata.uid ?? '' };
      } else claims.secret = { name, uid: bound.metadata.uid ?? '' };
    }
    if (nodeName !== undefined) {
      const node = opts.find('Node', undefined, nodeName);
      // Only a pod-bound token names its node (ServiceAccountTokenPodNodeInfo); the node's uid is what verify checks.
      if (node !== undefined) claims.node = { name: nodeName, uid: node.metadata.uid ?? '' };
    }
    const iat = Math.floor(now() / 1000);
    const exp = iat + expirationSeconds;
    const audiences = req.audiences !== undefined && req.audiences.length > 0 ? [...req.audiences] : [...apiAudiences];
    const payload = {
      aud: audiences,
      exp,
      iat,
      iss: issuer,
      jti: randomUUID(),
      'kubernetes.io': claims,
      nbf: iat,
      sub: `system:serviceaccount:${req.namespace}:${req.serviceAccount}`,
    };
    const signingInput = `${b64url(JSON.stringify({ alg: 'RS256', kid }))}.${b64url(JSON.stringify(payload))}`;
    const signature = sign('sha256', Buffer.from(signingInput), opts.signingKey).toString('base64url');
    return { token: `${signingInput}.${signature}`, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }

  function authenticate(token: string, audiences: readonly string[] = apiAudiences): TokenAuthResult {
    const refused = (why: string): TokenAuthResult => ({ ok: false, error: `[invalid bearer token, ${why}]` });
    const parts = token.split('.');
    if (parts.length !== 3) return refused('token is not a JWT');
    const [h = '', p = '', s = ''] = parts;
    const header = parseJson(h);
    const payload = parseJson(p);
    if (header === undefined || payload === undefined) return refused('token is malformed');
    if (header['alg'] !== 'RS256') return refused('token is not signed with RS256');
    // A token of another issuer is not ours to judge (upstream hands it to the next authenticator).
    if (payload['iss'] !== issuer) return refused('token issuer is not the cluster');
    if (!verifySignature('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url')))
      return refused('square/go-jose: error in cryptographic primitive');
    const t = now() / 1000;
    const exp = payload['exp'];
    const nbf = payload['nbf'];
    const iat = payload['iat'];
    if (typeof exp !== 'number' || t > exp + LEEWAY_SECONDS) return refused('service account token has expired');
    if (typeof nbf === 'number' && t < nbf - LEEWAY_SECONDS) return refused('service account token is not valid yet');
    if (typeof iat === 'number' && t < iat - LEEWAY_SECONDS) return refused('service account token is issued in the future');
    const tokenAudiences = stringList(payload['aud']);
    const accepted = audiences.filter((a) => tokenAudiences.includes(a));
    if (accepted.length === 0)
      return refused(`token audiences ${goQuoted(tokenAudiences)} is invalid for the target audiences ${goQuoted(audiences)}`);
    const k = asRecord(payload['kubernetes.io']);
    const namespace = k['namespace'];
    const saRef = objectRef(k['serviceaccount']);
    if (typeof namespace !== 'string' || saRef === undefined) return refused('service account token claims are incomplete');
    if (payload['sub'] !== `system:serviceaccount:${namespace}:${saRef.name}`)
      return refused('service account token subject does not match');

    const sa = opts.find('ServiceAccount', namespace, saRef.name);
    if (sa === undefined) return refused(`service account ${namespace}/${saRef.name} has been deleted`);
    if (sa.metadata.uid !== saRef.uid) return refused(`service account UID (${saRef.uid}) does not match claim (${sa.metadata.uid ?? ''})`);
    if (sa.metadata.deletionTimestamp !== undefined) return refused('service account token has been invalidated');
    const extra: Record<string, string[]> = {};
    const podRef = objectRef(k['pod']);
    if (k['pod'] !== undefined) {
      if (podRef === undefined) return refused('service account token claims are incomplete');
      const pod = opts.find('Pod', namespace, podRef.name);
      if (pod === undefined) return refused(`pod ${namespace}/${podRef.name} has been deleted`);
      if (pod.metadata.uid !== podRef.uid) return refused(`pod UID (${podRef.uid}) does not match claim (${pod.metadata.uid ?? ''})`);
      const deleted = pod.metadata.deletionTimestamp;
      if (deleted !== undefined && Date.parse(deleted) / 1000 < t - DELETED_POD_GRACE_SECONDS)
        return refused('service account token has been invalidated');
      extra['authentication.kubernetes.io/pod-name'] = [podRef.name];
      extra['authentication.kubernetes.io/pod-uid'] = [podRef.uid];
    }
    if (k['secret'] !== undefined) {
      const secretRef = objectRef(k['secret']);
      if (secretRef === undefined) return refused('service account token claims are incomplete');
      const secret = opts.find('Secret', namespace, secretRef.name);
      if (secret === undefined) return refused(`secret ${namespace}/${secretRef.name} has been deleted`);
      if (secret.metadata.uid !== secretRef.uid)
        return refused(`secret UID (${secretRef.uid}) does not match claim (${secret.metadata.uid ?? ''})`);
    }
    const nodeRef = objectRef(k['node']);
    if (nodeRef !== undefined) {
      // A pod-bound token's node is informational (the pod check covers it); a token bound only to a node needs it.
      if (podRef === undefined) {
        const node = opts.find('Node', undefined, nodeRef.name);
        if (node === undefined) return refused(`node ${nodeRef.name} has been deleted`);
        if (node.metadata.uid !== nodeRef.uid)
          return refused(`node UID (${nodeRef.uid}) does not match claim (${node.metadata.uid ?? ''})`);
      }
      extra['authentication.kubernetes.io/node-name'] = [nodeRef.name];
      extra['authentication.kubernetes.io/node-uid'] = [nodeRef.uid];
    }
    if (typeof payload['jti'] === 'string') extra['authentication.kubernetes.io/credential-id'] = [`JTI=${payload['jti']}`];
    const user: UserInfo = {
      username: `system:serviceaccount:${namespace}:${saRef.name}`,
      uid: saRef.uid,
      // system:authenticated is added by kube-apiserver's authenticator chain for every authenticated user.
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      ...(Object.keys(extra).length > 0 && { extra }),
    };
    return { ok: true, user, audiences: accepted };
  }

  return {
    issuer,
    apiAudiences,
    issue,
    authenticate,
    verify(token, audiences) {
      const result = authenticate(token, audiences);
      return result.ok ? result.user : undefined;
    },
  };
}

/**
 * The cluster's signing key: read from `path` (PKCS#8 PEM), or generated once (RSA 2048, ~100 ms, off the event loop)
 * and written there with mode 0600, so tokens stay valid across restarts of the runner that keep the state dir.
 */
export async function loadOrCreateSigningKey(path: string): Promise<KeyObject> {
  if (existsSync(path)) return createPrivateKey(readFileSync(path));
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  renameSync(tmp, path);
  return privateKey;
}

/** kube-apiserver's `kid`: base64url(sha256(DER SubjectPublicKeyInfo)). */
function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `aud` is a string or a list of strings (RFC 7519 §4.1.3). */
function stringList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function objectRef(v: unknown): ObjectRef | undefined {
  const r = asRecord(v);
  return typeof r['name'] === 'string' && typeof r['uid'] === 'string' ? { name: r['name'], uid: r['uid'] } : undefined;
}

/** Go's `%q` of a []string: `["a" "b"]`. */
function goQuoted(list: readonly string[]): string {
  return `[${list.map((a) => JSON.stringify(a)).join(' ')}]`;
}
