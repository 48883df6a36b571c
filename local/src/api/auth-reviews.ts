import type { IncomingMessage, ServerResponse } from 'node:http';
import { asRecord, isRecord } from '@ambit/core';
import type { Authenticator } from '../auth/authenticate.ts';
import type { Attributes, Decision, PolicyRule } from '../auth/rbac.ts';
import { SYSTEM_MASTERS } from '../auth/rbac.ts';
import type { RequestInfo } from '../auth/request-info.ts';
import type { LocalServiceAccountTokens, TokenRequestSpec, UserInfo } from '../auth/tokens.ts';
import type { FieldError } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import { mediaType, parseBody, readBody, sendJson } from './http-io.ts';
import { decodeProtobufObject, PROTOBUF, SPEC_SCHEMAS } from './protobuf-body.ts';

/**
 * The create-only kinds of authentication.k8s.io/v1 and authorization.k8s.io/v1, and the `serviceaccounts/token`
 * subresource: nothing is stored, each POST is answered from the cluster's tokens and RBAC (`201 Created`, as
 * kube-apiserver). The request itself has already been authorized like any other (creating a TokenReview needs
 * `create tokenreviews`; every authenticated user may create self-reviews through system:basic-user).
 */

export interface AuthApiContext {
  /** Undefined when the server issues no ServiceAccount tokens: TokenRequest is then not served. */
  readonly tokens: LocalServiceAccountTokens | undefined;
  readonly authenticator: Authenticator;
  readonly authorize: (attrs: Attributes) => Decision;
  readonly rulesFor: (user: UserInfo, namespace: string) => { rules: PolicyRule[]; errors: string[] };
  readonly maxBodyBytes: number;
}

/** What discovery lists for these kinds: group/version → resources (all create-only). */
export const REVIEW_RESOURCES: Readonly<Record<string, ReadonlyArray<{ name: string; kind: string; namespaced: boolean }>>> = {
  'authentication.k8s.io/v1': [
    { name: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false },
    { name: 'tokenreviews', kind: 'TokenReview', namespaced: false },
  ],
  'authorization.k8s.io/v1': [
    { name: 'localsubjectaccessreviews', kind: 'LocalSubjectAccessReview', namespaced: true },
    { name: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false },
    { name: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', namespaced: false },
    { name: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false },
  ],
};

/** The TokenRequest API's default lifetime (SetDefaults_TokenRequestSpec); the kubelet asks for 3607 s itself. */
const TOKEN_REQUEST_DEFAULT_SECONDS = 3600;

function reviewKind(info: RequestInfo): string | undefined {
  const gv = `${info.apiGroup}/${info.apiVersion}`;
  const entry = REVIEW_RESOURCES[gv]?.find((r) => r.name === info.resource);
  if (entry === undefined || info.subresource !== '' || info.name !== '') return undefined;
  if (entry.namespaced !== (info.namespace !== '')) return undefined;
  return entry.kind;
}

/** True when the request was one of these (and has been answered). */
export async function serveAuthApi(
  ctx: AuthApiContext,
  info: RequestInfo,
  user: UserInfo,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  if (!info.isResourceRequest) return false;
  const tokenRequest =
    info.apiGroup === '' && info.apiVersion === 'v1' && info.resource === 'serviceaccounts' && info.subresource === 'token';
  const kind = tokenRequest ? 'TokenRequest' : reviewKind(info);
  if (kind === undefined) return false;
  if (tokenRequest && (ctx.tokens === undefined || info.namespace === '' || info.name === '')) throw ApiError.noResource();
  if (req.method !== 'POST') throw ApiError.methodNotAllowed();
  const body = await readReviewBody(req, ctx.maxBodyBytes, kind);
  const spec = asRecord(body['spec']);
  const apiVersion = tokenRequest ? 'authentication.k8s.io/v1' : `${info.apiGroup}/${info.apiVersion}`;
  const answer = (status: Record<string, unknown>, answeredSpec: Record<string, unknown> = spec): void =>
    sendJson(res, 201, { kind, apiVersion, metadata: asRecord(body['metadata']), spec: answeredSpec, status });
  switch (kind) {
    case 'TokenRequest':
      answerTokenRequest(ctx.tokens, info, spec, body, res);
      break;
    case 'TokenReview':
      answer(tokenReview(ctx, spec));
      break;
    case 'SelfSubjectReview':
      answer({ userInfo: userJson(user) }, {});
      break;
    case 'SelfSubjectAccessReview':
      checkAttributes(kind, spec, undefined);
      answer(accessStatus(ctx.authorize({ ...attributesOf(spec), user })));
      break;
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview':
      checkAttributes(kind, spec, kind === 'LocalSubjectAccessReview' ? info.namespace : undefined);
      answer(accessStatus(ctx.authorize({ ...attributesOf(spec), user: subjectOf(spec) })));
      break;
    default:
      answer(rulesStatus(ctx, user, spec));
  }
  return true;
}

async function readReviewBody(req: IncomingMessage, limit: number, kind: string): Promise<Record<string, unknown>> {
  const raw = await readBody(req, limit);
  const type = mediaType(req);
  const schema = SPEC_SCHEMAS[kind];
  const body =
    type === PROTOBUF && schema !== undefined
      ? decodeProtobufObject(raw, schema)
      : parseBody(raw, type, ['application/json', 'application/yaml', '']);
  if (!isRecord(body)) throw ApiError.badRequest('the request body must be a JSON object');
  if (body['kind'] !== undefined && body['kind'] !== kind) {
    throw ApiError.badRequest(
      `the kind of the provided object (${String(body['kind'])}) does not match the kind of the resource (${kind})`,
    );
  }
  return body;
}

function invalid(kind: string, group: string, causes: FieldError[]): ApiError {
  return ApiError.invalid({ group, plural: '', kind }, '', causes);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function answerTokenRequest(
  tokens: LocalServiceAccountTokens | undefined,
  info: RequestInfo,
  spec: Record<string, unknown>,
  body: Record<string, unknown>,
  res: ServerResponse,
): void {
  if (tokens === undefined) throw ApiError.noResource();
  const expirationSeconds = typeof spec['expirationSeconds'] === 'number' ? spec['expirationSeconds'] : TOKEN_REQUEST_DEFAULT_SECONDS;
  const audiences = strings(spec['audiences']);
  const req: TokenRequestSpec = {
    namespace: info.namespace,
    serviceAccount: info.name,
    expirationSeconds,
    ...(audiences.length > 0 && { audiences }),
  };
  const ref = spec['boundObjectRef'];
  if (isRecord(ref) && str(ref['kind']) !== '') {
    const kind = str(ref['kind']);
    if (kind !== 'Pod' && kind !== 'Secret') {
      throw invalid('TokenRequest', 'authentication.k8s.io', [
        {
          field: 'spec.boundObjectRef.kind',
          message: `Unsupported value: "${kind}": supported values: "Pod", "Secret"`,
          reason: 'FieldValueNotSupported',
        },
      ]);
    }
    req.boundObject = { kind, name: str(ref['name']), uid: str(ref['uid']) };
  }
  const issued = tokens.issue(req);
  const metadata = { ...asRecord(body['metadata']), name: info.name, namespace: info.namespace };
  sendJson(res, 201, {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata,
    spec: {
      audiences: audiences.length > 0 ? audiences : tokens.apiAudiences,
      expirationSeconds,
      boundObjectRef: isRecord(ref) ? ref : null,
    },
    status: issued,
  });
}

function userJson(u: UserInfo): Record<string, unknown> {
  return { username: u.username, ...(u.uid !== '' && { uid: u.uid }), groups: u.groups, ...(u.extra !== undefined && { extra: u.extra }) };
}

function tokenReview(ctx: AuthApiContext, spec: Record<string, unknown>): Record<string, unknown> {
  const token = str(spec['token']);
  if (token === '') throw ApiError.badRequest('token is required for TokenReview in authentication');
  const requested = strings(spec['audiences']);
  const audiences = requested.length > 0 ? requested : (ctx.tokens?.apiAudiences ?? []);
  const sa = ctx.tokens?.authenticate(token, audiences);
  if (sa?.ok === true) return { authenticated: true, user: userJson(sa.user), audiences: sa.audiences };
  const other = ctx.authenticator.user(token, audiences);
  if (other !== undefined) {
    const implicit = ctx.tokens?.apiAudiences ?? [];
    return { authenticated: true, user: userJson(other), audiences: audiences.filter((a) => implicit.includes(a)) };
  }
  return { user: {}, error: sa?.ok === false ? sa.error : '[invalid bearer token]' };
}

/** Validation shared by the access reviews (k8s.io/kubernetes pkg/apis/authorization/validation). */
function checkAttributes(kind: string, spec: Record<string, unknown>, localNamespace: string | undefined): void {
  const causes: FieldError[] = [];
  const res = spec['resourceAttributes'];
  const nonRes = spec['nonResourceAttributes'];
  const has = (v: unknown): boolean => v !== undefined && v !== null;
  if (has(res) && has(nonRes))
    causes.push({
      field: 'spec.nonResourceAttributes',
      message: `Invalid value: "": cannot be specified in combination with resourceAttributes`,
    });
  if (!has(res) && !has(nonRes))
    causes.push({
      field: 'spec.resourceAttributes',
      message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
    });
  if (kind !== 'SelfSubjectAccessReview' && strings(spec['groups']).length === 0 && str(spec['user']) === '')
    causes.push({ field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' });
  if (localNamespace !== undefined) {
    if (has(nonRes)) causes.push({ field: 'spec.nonResourceAttributes', message: 'Invalid value: "": disallowed on this kind of request' });
    const ns = str(asRecord(res)['namespace']);
    if (has(res) && ns !== localNamespace)
      causes.push({ field: 'spec.resourceAttributes.namespace', message: `Invalid value: "${ns}": must match metadata.namespace` });
  }
  if (causes.length > 0) throw invalid(kind, 'authorization.k8s.io', causes);
}

function attributesOf(spec: Record<string, unknown>): Omit<Attributes, 'user'> {
  const res = spec['resourceAttributes'];
  if (isRecord(res)) {
    return {
      isResourceRequest: true,
      path: '',
      verb: str(res['verb']),
      apiGroup: str(res['group']),
      apiVersion: str(res['version']),
      namespace: str(res['namespace']),
      resource: str(res['resource']),
      subresource: str(res['subresource']),
      name: str(res['name']),
    };
  }
  const nonRes = asRecord(spec['nonResourceAttributes']);
  return {
    isResourceRequest: false,
    path: str(nonRes['path']),
    verb: str(nonRes['verb']),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
}

function subjectOf(spec: Record<string, unknown>): UserInfo {
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(asRecord(spec['extra']))) extra[k] = Array.isArray(v) ? strings(v) : strings(asRecord(v)['items']);
  return {
    username: str(spec['user']),
    uid: str(spec['uid']),
    groups: strings(spec['groups']),
    ...(Object.keys(extra).length > 0 && { extra }),
  };
}

function accessStatus(d: Decision): Record<string, unknown> {
  return { allowed: d.allowed, ...(d.reason !== '' && { reason: d.reason }) };
}

function rulesStatus(ctx: AuthApiContext, user: UserInfo, spec: Record<string, unknown>): Record<string, unknown> {
  const namespace = str(spec['namespace']);
  if (namespace === '') throw ApiError.badRequest('no namespace on request');
  const resourceRules: Record<string, unknown>[] = [];
  const nonResourceRules: Record<string, unknown>[] = [];
  if (user.groups.includes(SYSTEM_MASTERS)) {
    // The privileged-group authorizer's own rules come first, as the union authorizer lists them.
    resourceRules.push({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] });
    nonResourceRules.push({ verbs: ['*'], nonResourceURLs: ['*'] });
  }
  const { rules, errors } = ctx.rulesFor(user, namespace);
  for (const r of rules) {
    if (r.resources.length > 0 || r.apiGroups.length > 0)
      resourceRules.push({
        verbs: r.verbs,
        apiGroups: r.apiGroups,
        resources: r.resources,
        ...(r.resourceNames.length > 0 && { resourceNames: r.resourceNames }),
      });
    if (r.nonResourceURLs.length > 0) nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
  }
  return {
    resourceRules,
    nonResourceRules,
    incomplete: errors.length > 0,
    ...(errors.length > 0 && { evaluationError: errors.length === 1 ? errors[0] : `[${errors.join(', ')}]` }),
  };
}
