import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { AmbitError } from '@ambit/core/errors';
import type { HttpsTls } from './http-exchange.ts';

/**
 * The part of a kubeconfig (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/)
 * the plugin's Node fallback needs to GET from the API: the current context's server, its CA, and a bearer token or
 * client certificate. Read with `yaml` rather than @kubernetes/client-node, which would more than double the
 * fallback's start-up (cni/README.md); what this reader does not support (exec and auth-provider plugins, basic auth,
 * proxies) is an error naming the field, never a silent anonymous request.
 */
export interface ApiAccess {
  /** `https://host:port` of the server. */
  readonly origin: URL;
  /** The server URL's path, without a trailing slash, that every API path goes under (usually empty). */
  readonly pathPrefix: string;
  readonly tls: HttpsTls;
  /** `authorization: Bearer …` when the user has a token. */
  readonly headers: Readonly<Record<string, string>>;
}

/** A kubeconfig the plugin cannot use: unreadable, not YAML, or missing or unsupported fields (named). */
export class KubeconfigError extends AmbitError {
  constructor(message: string, cause?: unknown) {
    super('BAD_KUBECONFIG', message, { cause });
  }
}

type Json = Record<string, unknown>;
const isJson = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

export function readKubeconfig(path: string): ApiAccess {
  const bad = (why: string, cause?: unknown): KubeconfigError => new KubeconfigError(`kubeconfig ${path}: ${why}`, cause);
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err), err);
  }
  if (!isJson(parsed)) throw bad('not a YAML mapping');
  const doc = parsed;
  // Relative file names in a kubeconfig are relative to the file itself (clientcmd's ResolvePaths).
  const file = (name: string): string => (isAbsolute(name) ? name : join(dirname(path), name));
  const readField = (obj: Json, field: string, where: string): Buffer | undefined => {
    const data = obj[`${field}-data`];
    const name = obj[field];
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
    if (typeof name !== 'string' || name === '') return undefined;
    try {
      return readFileSync(file(name));
    } catch (err) {
      throw bad(`${where}.${field}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  };
  const named = (list: string, name: unknown, inner: string): Json => {
    const entries = doc[list];
    const entry = Array.isArray(entries) ? (entries as unknown[]).find((e) => isJson(e) && e['name'] === name) : undefined;
    if (!isJson(entry) || !isJson(entry[inner])) throw bad(`no ${list} entry named ${JSON.stringify(name)} with a "${inner}"`);
    return entry[inner];
  };

  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw bad('field current-context must name a context');
  const context = named('contexts', contextName, 'context');
  const cluster = named('clusters', context['cluster'], 'cluster');
  const user = context['user'] === undefined ? {} : named('users', context['user'], 'user');

  const server = cluster['server'];
  let url: URL;
  try {
    url = new URL(typeof server === 'string' ? server : '');
  } catch {
    throw bad(`cluster ${String(context['cluster'])}: field server must be a URL, got ${JSON.stringify(server)}`);
  }
  if (url.protocol !== 'https:')
    throw bad(`cluster ${String(context['cluster'])}: field server must be https (a token is never sent in the clear)`);
  if (cluster['proxy-url'] !== undefined) throw bad(`cluster ${String(context['cluster'])}: field proxy-url is not supported`);
  for (const unsupported of ['exec', 'auth-provider', 'username', 'password']) {
    if (user[unsupported] !== undefined)
      throw bad(`user ${String(context['user'])}: field ${unsupported} is not supported (use a token or a client certificate)`);
  }

  const ca = readField(cluster, 'certificate-authority', `cluster ${String(context['cluster'])}`);
  const cert = readField(user, 'client-certificate', `user ${String(context['user'])}`);
  const key = readField(user, 'client-key', `user ${String(context['user'])}`);
  if ((cert === undefined) !== (key === undefined))
    throw bad(`user ${String(context['user'])}: a client certificate needs its key and the reverse`);
  let token = typeof user['token'] === 'string' && user['token'] !== '' ? user['token'] : undefined;
  const tokenFile = user['tokenFile'];
  if (token === undefined && typeof tokenFile === 'string' && tokenFile !== '') {
    try {
      token = readFileSync(file(tokenFile), 'utf8').trim();
    } catch (err) {
      throw bad(`user ${String(context['user'])}.tokenFile: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }
  const servername = cluster['tls-server-name'];
  return {
    origin: new URL(url.origin),
    pathPrefix: url.pathname.replace(/\/+$/, ''),
    tls: {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(typeof servername === 'string' && servername !== '' ? { servername } : {}),
      insecureSkipVerify: cluster['insecure-skip-tls-verify'] === true,
    },
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  };
}
