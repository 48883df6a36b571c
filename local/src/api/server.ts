import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AmbitError, type Logger } from '@ambit/core';
import { ADMIN_USER, createAuthenticator, forbidden, impersonate } from '../auth/authenticate.ts';
import { ensureBootstrapPolicy } from '../auth/bootstrap-policy.ts';
import { authorize, rulesFor, type Attributes, type Decision } from '../auth/rbac.ts';
import { parseRequestInfo, type RequestInfo } from '../auth/request-info.ts';
import { createStorePolicy } from '../auth/store-policy.ts';
import type { LocalServiceAccountTokens, UserInfo } from '../auth/tokens.ts';
import { ApiError } from '../store/api-error.ts';
import { serveAuthApi, type AuthApiContext } from './auth-reviews.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.ts';
import { OpenApi } from './openapi.ts';
import { encodeOpenApiV2, OPENAPI_V2_PROTOBUF, openApiV2Json } from './openapi-v2.ts';
import { mediaType, negotiate, parseBody, readBody, sendApiError, sendJson, sendText } from './http-io.ts';
import { servePodLog } from './pod-logs.ts';
import { handleResource, type ResourceContext } from './resource-handlers.ts';
import { resolveResourcePath } from './resource-routes.ts';
import { createServingCert, type ServingCert } from './self-signed-cert.ts';

export type ApiExtension = (body: unknown) => Promise<unknown>;

export interface ApiServerOptions {
  readonly store: ObjectStore;
  /** TCP listener; only host 127.0.0.1 is accepted. Port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Also listen on this unix socket (mode 0600); its requests need no token. */
  readonly socketPath?: string;
  /**
   * Also listen on this unix socket (mode 0600) speaking exactly what the TCP listener speaks: TLS with the same
   * certificate and the bearer token. Byte forwarders inside node namespaces connect here, so processes there reach
   * the API at `https://127.0.0.1:PORT` of their own namespace as a node reaches its API server. Needs TLS.
   */
  readonly tlsSocketPath?: string;
  /** The admin bearer token: user `system:admin` in group `system:masters`, allowed everything. */
  readonly token: string;
  /**
   * The cluster's ServiceAccount tokens. With them, ServiceAccount bearer tokens authenticate too (RBAC decides what
   * they may do), `serviceaccounts/<name>/token` (TokenRequest) and TokenReview are served, and the default RBAC
   * policy a client needs (discovery, self-reviews, health; `auth/bootstrap-policy.ts`) is created at start.
   * Without them only the admin token (and impersonation by it) authenticates.
   */
  readonly serviceAccountTokens?: LocalServiceAccountTokens;
  readonly log: Logger;
  /** Interval of BOOKMARK events on watches that allow them; default 5000 ms. */
  readonly bookmarkIntervalMs?: number;
  /** `POST /ambit/v1/<name>` handlers (e.g. atomic multi-document apply). */
  readonly extensions?: Readonly<Record<string, ApiExtension>>;
  /** Largest accepted request body; default 3 MiB (the real server's limit), more is 413. */
  readonly maxBodyBytes?: number;
  /**
   * TLS on the TCP listener. Default true: a fresh self-signed certificate for 127.0.0.1, because kubectl and
   * client-go send bearer tokens only over TLS. A ServingCert uses that one; false serves plain HTTP (for clients
   * that set the Authorization header themselves, e.g. tests with fetch).
   */
  readonly tls?: boolean | ServingCert;
  /**
   * Where the local kubelets append container output (`<dir>/<namespace>/<pod>/<container>.log`), served as
   * `pods/<name>/log`. Without it `kubectl logs` answers 404 NotFound.
   */
  readonly podLogDir?: string;
}

export interface ApiServer {
  /** `https://127.0.0.1:PORT`, or `http://` when TLS is off. */
  readonly url: string;
  /** The serving certificate (its own CA) for kubeconfig `certificate-authority-data`; undefined without TLS. */
  readonly caCertPem: string | undefined;
  readonly socketPath: string | undefined;
  readonly tlsSocketPath: string | undefined;
  close(): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/livez']);

async function listen(server: Server, target: { port: number; host: string } | { path: string }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** A stale socket file from an earlier run is removed; anything else at that path is an error, not ours to delete. */
async function clearSocketPath(path: string): Promise<void> {
  const st = await lstat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  if (st === undefined) return;
  if (!st.isSocket()) throw new AmbitError('API_SOCKET_PATH_IN_USE', `${path} exists and is not a socket; refusing to replace it`);
  await unlink(path);
}

/**
 * Starts the local cluster's Kubernetes-style API server. Pods run arbitrary commands as root on this host, so an
 * unauthenticated loopback port would hand root to any local user: TCP requests need a bearer token (the admin's or
 * a ServiceAccount's), are authorized by RBAC as kube-apiserver does, and only 127.0.0.1 may be bound. Unix-socket
 * requests are trusted (system:masters); the socket's 0600 mode is their protection.
 */
export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  if (options.listen.host !== '127.0.0.1') {
    throw new AmbitError('API_LISTEN_REFUSED', `the API server only listens on 127.0.0.1, not ${options.listen.host}`);
  }
  if (options.token === '') throw new AmbitError('API_NO_TOKEN', 'the API server needs a non-empty bearer token');
  if (options.tlsSocketPath !== undefined && options.tls === false) {
    throw new AmbitError('API_TLS_SOCKET_WITHOUT_TLS', 'tlsSocketPath serves what the TCP listener serves, TLS included: it needs tls');
  }
  const log = options.log.child({ component: 'api-server' });
  const tokens = options.serviceAccountTokens;
  const authenticator = createAuthenticator(options.token, tokens);
  const rbac = createStorePolicy(options.store);
  // kube-apiserver's rbac/bootstrap-roles hook: only a cluster that has ServiceAccounts to authorize needs them.
  if (tokens !== undefined) ensureBootstrapPolicy(options.store);
  const authorizeAttrs = (attrs: Attributes): Decision => authorize(rbac.policy, attrs);
  const extensions = options.extensions ?? {};
  const watches = new Set<() => void>();
  const ctx: ResourceContext = {
    store: options.store,
    maxBodyBytes: options.maxBodyBytes ?? 3 * 1024 * 1024,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5000,
    trackWatch: (end) => {
      watches.add(end);
      return () => watches.delete(end);
    },
    serveLog: async (pod, url, res) => {
      const logDir = options.podLogDir;
      if (logDir === undefined) throw ApiError.noResource();
      await servePodLog({ store: options.store, logDir, trackStream: ctx.trackWatch }, pod, url, res);
    },
  };
  let serverAddress = '127.0.0.1:0';
  const openApi = new OpenApi(options.store);
  // /openapi/v2 merges every group/version (about 1 s to build): kept until the v3 root (its hashes) changes.
  let v2: { key: string; json: Record<string, unknown>; pb?: Buffer } | undefined;
  const openApiV2 = (): { key: string; json: Record<string, unknown>; pb?: Buffer } => {
    const key = JSON.stringify(openApi.root());
    if (v2?.key !== key) v2 = { key, json: openApiV2Json(openApi) };
    return v2;
  };

  const authApi: AuthApiContext = {
    tokens,
    authenticator,
    authorize: authorizeAttrs,
    rulesFor: (user, namespace) => rulesFor(rbac.policy, user, namespace),
    maxBodyBytes: ctx.maxBodyBytes,
  };

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL, info: RequestInfo, user: UserInfo): Promise<void> => {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const segments = path.split('/').filter((s) => s !== '');
    const discovery = (doc: Record<string, unknown> | undefined): void => {
      if (doc === undefined) throw ApiError.noResource();
      if (method !== 'GET') throw ApiError.methodNotAllowed();
      negotiate(req.headers.accept, false);
      sendJson(res, 200, doc);
    };
    if (HEALTH_PATHS.has(path)) return sendText(res, 200, 'ok');
    if (path === '/version') return discovery(versionInfo());
    if (segments[0] === 'ambit' && segments[1] === 'v1' && segments.length === 3) {
      const ext = extensions[decodeURIComponent(segments[2] ?? '')];
      if (ext === undefined) throw ApiError.noResource();
      if (method !== 'POST') throw ApiError.methodNotAllowed();
      const raw = await readBody(req, ctx.maxBodyBytes);
      const body = raw.length === 0 ? undefined : parseBody(raw, mediaType(req), ['application/json', '']);
      return sendJson(res, 200, (await ext(body)) ?? {});
    }
    if (await serveAuthApi(authApi, info, user, req, res)) return;
    if (segments[0] === 'api') {
      if (segments.length === 1) return discovery(apiVersions(serverAddress));
      if (segments[1] !== 'v1') throw ApiError.noResource();
      if (segments.length === 2) return discovery(apiResourceList(options.store.types, '', 'v1'));
      return handleResource(ctx, resolveResourcePath(options.store.types, '', 'v1', segments.slice(2)), req, res, url);
    }
    if (segments[0] === 'apis') {
      const [, group, version] = segments;
      if (group === undefined) return discovery(apiGroupList(options.store.types));
      if (version === undefined) return discovery(apiGroup(options.store.types, group));
      if (segments.length === 3) return discovery(apiResourceList(options.store.types, group, version));
      return handleResource(ctx, resolveResourcePath(options.store.types, group, version, segments.slice(3)), req, res, url);
    }
    if (segments[0] === 'openapi' && segments[1] === 'v3') {
      if (segments.length === 2) return discovery(openApi.root());
      const [, , prefix, a, b] = segments;
      if (prefix === 'api' && a !== undefined && segments.length === 4) return discovery(openApi.document('', a));
      if (prefix === 'apis' && a !== undefined && b !== undefined && segments.length === 5) return discovery(openApi.document(a, b));
    }
    if (path === '/openapi/v2') {
      if (method !== 'GET') throw ApiError.methodNotAllowed();
      const doc = openApiV2();
      // client-go asks for gnostic's protobuf only and does not fall back to JSON; other clients get JSON.
      if (/application\/com\.github\.proto-openapi\.spec\.v2[@.]v1\.0\+protobuf/.test(req.headers.accept ?? '')) {
        doc.pb ??= encodeOpenApiV2(doc.json);
        res.writeHead(200, { 'Content-Type': OPENAPI_V2_PROTOBUF, 'Content-Length': doc.pb.length });
        res.end(doc.pb);
        return;
      }
      return discovery(doc.json);
    }
    throw ApiError.noResource();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, trusted: boolean): Promise<void> => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    res.on('close', () => {
      log.debug({ method: req.method, path: url.pathname, code: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    try {
      // Authentication, impersonation, then authorization of what the request asks, before any routing (a request
      // for something not served is refused 403 when not allowed, as upstream, not 404).
      const requester = trusted ? ADMIN_USER : authenticator.authenticate(req);
      const user = impersonate(req, requester, authorizeAttrs);
      const info = parseRequestInfo(req.method ?? 'GET', url);
      if (!trusted || user !== requester) {
        const attrs: Attributes = { ...info, user };
        const decision = authorizeAttrs(attrs);
        if (!decision.allowed) throw forbidden(attrs, decision.reason);
      }
      await route(req, res, url, info, user);
    } catch (err) {
      if (err instanceof ApiError) {
        sendApiError(res, err);
      } else {
        log.error({ err, method: req.method, path: url.pathname }, 'request failed');
        sendApiError(res, ApiError.internal(err instanceof Error ? err.message : String(err), err));
      }
    }
  };

  const tls =
    options.tls === false ? undefined : options.tls === true || options.tls === undefined ? await createServingCert() : options.tls;
  // What the TCP listener speaks (TLS unless off, the token); the TLS unix listener speaks the same.
  const authenticated = (): Server => {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res, false);
    return tls === undefined ? createServer(onRequest) : createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, onRequest);
  };
  const tcp = authenticated();
  await listen(tcp, { port: options.listen.port, host: '127.0.0.1' });
  const port = (tcp.address() as AddressInfo).port;
  serverAddress = `127.0.0.1:${port}`;
  const url = `${tls === undefined ? 'http' : 'https'}://${serverAddress}`;

  const unixListeners: Array<{ server: Server; path: string }> = [];
  const closeAll = async (): Promise<void> => {
    await closeServer(tcp);
    for (const { server, path } of unixListeners) {
      await closeServer(server);
      await unlink(path).catch(() => undefined);
    }
  };
  const unixTargets: Array<{ path: string; make: () => Server }> = [];
  if (options.socketPath !== undefined)
    unixTargets.push({ path: options.socketPath, make: () => createServer((req, res) => void handle(req, res, true)) });
  if (options.tlsSocketPath !== undefined) unixTargets.push({ path: options.tlsSocketPath, make: authenticated });
  try {
    for (const target of unixTargets) {
      await clearSocketPath(target.path);
      const server = target.make();
      await listen(server, { path: target.path });
      unixListeners.push({ server, path: target.path });
      await chmod(target.path, 0o600);
    }
  } catch (err) {
    rbac.close();
    await closeAll();
    throw err;
  }
  log.info({ url, socketPath: options.socketPath, tlsSocketPath: options.tlsSocketPath }, 'API server listening');

  return {
    url,
    caCertPem: tls?.certPem,
    socketPath: options.socketPath,
    tlsSocketPath: options.tlsSocketPath,
    close: async () => {
      rbac.close();
      for (const end of [...watches]) end();
      watches.clear();
      await closeAll();
    },
  };
}
