/**
 * What a request asks to do, in the terms authorization speaks: kube-apiserver's RequestInfo
 * (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), parsed from the method, path and query alone, before any
 * routing. Keeping it independent of what this server serves matters: a request for an unserved resource is still
 * authorized (and refused) under the resource it names, as upstream answers 403 before 404.
 */
export interface RequestInfo {
  readonly isResourceRequest: boolean;
  /** The URL path, for nonResourceURLs rules. */
  readonly path: string;
  /** get list watch create update patch delete deletecollection (resource requests); the lower-cased method otherwise. */
  readonly verb: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  /** '' for cluster-scoped requests and all-namespace lists. */
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

const API_PREFIXES = new Set(['api', 'apis']);
// `proxy` addresses a name but never a subresource; `watch` is the legacy /watch/ prefix.
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const METHOD_VERBS: Readonly<Record<string, string>> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  let parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((_, i, all) => all.length > 1 || all[0] !== '');
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] ?? '')) return nonResource;
  const prefix = parts[0];
  parts = parts.slice(1);
  let apiGroup = '';
  if (prefix === 'apis') {
    if (parts.length < 3) return nonResource;
    apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }
  const apiVersion = parts[0] ?? '';
  parts = parts.slice(1).map(decodeSegment);
  let verb: string;
  if (SPECIAL_VERBS.has(parts[0] ?? '')) {
    // Upstream refuses `/watch` alone; as a request nothing serves, it authorizes as a watch of nothing.
    verb = parts[0] ?? '';
    parts = parts.slice(1);
  } else verb = METHOD_VERBS[method] ?? '';
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1] ?? '';
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(verb) ? (parts[2] ?? '') : '';
  if (name === '' && verb === 'get') {
    const watch = url.searchParams.get('watch');
    verb = watch === null || watch.toLowerCase() === 'false' || watch === '0' ? 'list' : 'watch';
    // A list or watch of one object by name (what informers of a single object send) is authorized by that name.
    const byName = exactNameSelector(url.searchParams.get('fieldSelector'));
    if (byName !== undefined) name = byName;
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  return { isResourceRequest: true, path, verb, apiGroup, apiVersion, namespace, resource, subresource, name };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `metadata.name=x` (or `==`) among a field selector's terms, when x is a valid path segment name. */
function exactNameSelector(selector: string | null): string | undefined {
  if (selector === null) return undefined;
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term);
    const name = m?.[1];
    if (name !== undefined && name !== '' && name !== '.' && name !== '..' && !/[/%]/.test(name)) return name;
  }
  return undefined;
}
