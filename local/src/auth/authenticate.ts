import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../store/api-error.ts';
import type { Attributes, Decision } from './rbac.ts';
import { SYSTEM_MASTERS } from './rbac.ts';
import type { RequestInfo } from './request-info.ts';
import type { LocalServiceAccountTokens, UserInfo } from './tokens.ts';

/**
 * Who a request comes from, as kube-apiserver's authentication and impersonation filters decide
 * (k8s.io/apiserver/pkg/endpoints/filters/{authentication,impersonation}.go): the cluster's admin token is
 * `system:admin` in `system:masters`; a ServiceAccount token is its ServiceAccount; anything else is 401. An
 * authenticated user may then act as another (`Impersonate-User`/`-Group`/`-Uid`/`-Extra-*`, what `kubectl --as`
 * sends) if RBAC lets it `impersonate` that user, each group, uid and extra value.
 */

export const SYSTEM_AUTHENTICATED = 'system:authenticated';
/** The admin token's user, and the trusted unix socket's. */
export const ADMIN_USER: UserInfo = { username: 'system:admin', uid: '', groups: [SYSTEM_MASTERS, SYSTEM_AUTHENTICATED] };

export interface Authenticator {
  /** The bearer token's user; undefined when the token is none of ours. */
  user(token: string, audiences?: readonly string[]): UserInfo | undefined;
  /** The request's user (its bearer token's); 401 Unauthorized otherwise. */
  authenticate(req: IncomingMessage): UserInfo;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createAuthenticator(adminToken: string, tokens: LocalServiceAccountTokens | undefined): Authenticator {
  const adminDigest = digest(adminToken);
  const user = (token: string, audiences?: readonly string[]): UserInfo | undefined => {
    // Compare digests so the comparison takes the same time whatever the token's length.
    if (timingSafeEqual(digest(token), adminDigest)) {
      // The static token knows no audiences: it is good for the API server's only (WrapAudienceAgnostic).
      const implicit = tokens?.apiAudiences ?? [];
      if (audiences === undefined || audiences.length === 0 || audiences.some((a) => implicit.includes(a))) return ADMIN_USER;
      return undefined;
    }
    return tokens?.verify(token, audiences);
  };
  return {
    user,
    authenticate(req) {
      const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
      const found = m === null ? undefined : user((m[1] ?? '').trim());
      if (found === undefined) throw ApiError.unauthorized();
      return found;
    },
  };
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;
const EXTRA_PREFIX = 'impersonate-extra-';

/**
 * The user a request acts as after impersonation headers; `requester` itself without them. `authorize` is asked for
 * each impersonated value (verb `impersonate`), and a refusal is the 403 upstream sends, naming what was refused.
 */
export function impersonate(req: IncomingMessage, requester: UserInfo, authorize: (attrs: Attributes) => Decision): UserInfo {
  const headers = req.headersDistinct;
  const username = headers['impersonate-user']?.[0];
  const groups = headers['impersonate-group'] ?? [];
  const uid = headers['impersonate-uid']?.[0];
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (!name.startsWith(EXTRA_PREFIX) || values === undefined) continue;
    // Header names carry the key percent-encoded (RFC 7230 token rules); keys are compared lower-cased.
    extra[decodeURIComponent(name.slice(EXTRA_PREFIX.length)).toLowerCase()] = values;
  }
  if (username === undefined) {
    if (groups.length > 0 || uid !== undefined || Object.keys(extra).length > 0) {
      throw ApiError.badRequest('requested impersonation without impersonating a user');
    }
    return requester;
  }
  const check = (info: Omit<RequestInfo, 'isResourceRequest' | 'path' | 'verb' | 'apiVersion'>): void => {
    const attrs: Attributes = { ...info, isResourceRequest: true, path: '', verb: 'impersonate', apiVersion: '', user: requester };
    const decision = authorize(attrs);
    if (!decision.allowed) throw forbidden(attrs, decision.reason);
  };
  const sa = SA_USER.exec(username);
  let impersonatedGroups = [...groups];
  if (sa !== null) {
    const [, ns = '', name = ''] = sa;
    check({ apiGroup: '', namespace: ns, resource: 'serviceaccounts', subresource: '', name });
    if (groups.length === 0) impersonatedGroups = ['system:serviceaccounts', `system:serviceaccounts:${ns}`];
  } else check({ apiGroup: '', namespace: '', resource: 'users', subresource: '', name: username });
  for (const g of groups) check({ apiGroup: '', namespace: '', resource: 'groups', subresource: '', name: g });
  for (const [key, values] of Object.entries(extra)) {
    for (const v of values) check({ apiGroup: 'authentication.k8s.io', namespace: '', resource: 'userextras', subresource: key, name: v });
  }
  if (uid !== undefined) check({ apiGroup: 'authentication.k8s.io', namespace: '', resource: 'uids', subresource: '', name: uid });
  // Every impersonated user but anonymous is authenticated, unless the groups asked say otherwise.
  if (username !== 'system:anonymous' && !impersonatedGroups.some((g) => g === SYSTEM_AUTHENTICATED || g === 'system:unauthenticated')) {
    impersonatedGroups.push(SYSTEM_AUTHENTICATED);
  }
  return {
    username,
    uid: uid ?? '',
    groups: impersonatedGroups,
    ...(Object.keys(extra).length > 0 && { extra }),
  };
}

/**
 * kube-apiserver's 403 (responsewriters.Forbidden + apierrors.NewForbidden): `pods "x" is forbidden: User "u" cannot
 * get resource "pods" in API group "" in the namespace "ns"`, `… at the cluster scope`, `forbidden: User "u" cannot
 * get path "/x"`, with `: <reason>` when the authorizer gave one.
 */
export function forbidden(attrs: Attributes, reason: string): ApiError {
  const user = attrs.user.username;
  let msg: string;
  if (!attrs.isResourceRequest) msg = `User "${user}" cannot ${attrs.verb} path "${attrs.path}"`;
  else {
    const resource = attrs.subresource === '' ? attrs.resource : `${attrs.resource}/${attrs.subresource}`;
    const scope = attrs.namespace === '' ? 'at the cluster scope' : `in the namespace "${attrs.namespace}"`;
    msg = `User "${user}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${scope}`;
  }
  if (reason !== '') msg = `${msg}: ${reason}`;
  const qualified = attrs.apiGroup === '' ? attrs.resource : `${attrs.resource}.${attrs.apiGroup}`;
  const message =
    qualified === ''
      ? `forbidden: ${msg}`
      : attrs.name === ''
        ? `${qualified} is forbidden: ${msg}`
        : `${qualified} "${attrs.name}" is forbidden: ${msg}`;
  return new ApiError(403, 'Forbidden', message, {
    ...(attrs.name !== '' && { name: attrs.name }),
    ...(attrs.apiGroup !== '' && { group: attrs.apiGroup }),
    ...(attrs.resource !== '' && { kind: attrs.resource }),
  });
}
