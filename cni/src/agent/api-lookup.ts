// Direct reads of one Pod and its Namespace over the API socket. The CNI path needs them fresh (the pod was created
// a moment ago); the reconcile uses them to confirm, before releasing a pod, what a lagging watch cache suggests.
import { AmbitError, errorMessage } from '@ambit/core';
import { unixHttp } from '../plugin/unix-http.ts';
import { parseNamespace, parsePod, type NamespaceInfo, type PodInfo } from './kube-objects.ts';

export class ApiLookupError extends AmbitError {
  /** The API answered 404: the object does not exist. */
  readonly notFound: boolean;

  constructor(message: string, notFound: boolean) {
    super(notFound ? 'KUBE_NOT_FOUND' : 'KUBE_LOOKUP_FAILED', message);
    this.notFound = notFound;
  }
}

async function getJson(apiSocket: string, path: string, what: string, timeoutMs: number): Promise<unknown> {
  let res;
  try {
    res = await unixHttp({ socketPath: apiSocket, method: 'GET', path, timeoutMs });
  } catch (err) {
    throw new ApiLookupError(`${what}: look-up in the API (${apiSocket}) failed: ${errorMessage(err)}`, false);
  }
  if (res.status !== 200) throw new ApiLookupError(`${what}: look-up in the API answered HTTP ${res.status}: ${res.body.slice(0, 300)}`, res.status === 404);
  try {
    return JSON.parse(res.body);
  } catch {
    throw new ApiLookupError(`${what}: look-up in the API answered a body that is not JSON`, false);
  }
}

/** Pod and namespace side by side (both sit on the pod's start-up path). */
export async function lookUpPodAndNamespace(
  apiSocket: string,
  ns: string,
  name: string,
  timeoutMs: number,
): Promise<{ pod: PodInfo; namespace: NamespaceInfo }> {
  const what = `pod ${ns}/${name}`;
  const [podJson, nsJson] = await Promise.all([
    getJson(apiSocket, `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`, what, timeoutMs),
    getJson(apiSocket, `/api/v1/namespaces/${encodeURIComponent(ns)}`, `${what}: namespace`, timeoutMs),
  ]);
  try {
    return { pod: parsePod(podJson), namespace: parseNamespace(nsJson) };
  } catch (err) {
    throw new ApiLookupError(`${what}: the API answered a bad object: ${errorMessage(err)}`, false);
  }
}
