// A pod and its namespace, as the CNI path and the reconcile need them. The CNI path asks first: the informer caches
// answer when they hold the pod (with the runtime's uid) and its namespace and say it is ambient, so an ambient pod's
// start costs no API round trip. Anything else is read from the API: a pod created a moment ago that the watch has not
// delivered yet, a re-created pod, and every "not ambient" — the namespace may have been labelled a moment ago, and a
// cache that has not seen it yet would let the pod start uncaptured (fail closed, DESIGN §9). The reconcile always
// reads the API: it confirms, before releasing a pod, what a lagging cache suggests.
import { AmbitError, errorMessage } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';
import { isAmbient } from '../plugin/membership.ts';
import type { KubeCache } from './kube-cache.ts';
import { parseNamespace, parsePod, type NamespaceInfo, type PodInfo } from './kube-objects.ts';

export class PodLookupError extends AmbitError {
  /** The API answered 404: the object does not exist. */
  readonly notFound: boolean;

  constructor(message: string, notFound: boolean, cause?: unknown) {
    super(notFound ? 'KUBE_NOT_FOUND' : 'KUBE_LOOKUP_FAILED', message, { cause });
    this.notFound = notFound;
  }
}

export interface PodAndNamespace {
  readonly pod: PodInfo;
  readonly namespace: NamespaceInfo;
}

export interface PodLookupOptions {
  readonly client: KubeClient;
  /** This node's pods, by uid. */
  readonly pods: KubeCache<PodInfo>;
  /** Namespaces, by name. */
  readonly namespaces: KubeCache<NamespaceInfo>;
  /** Bound on each direct read, ms; default 3 000 (the plugin's whole ADD has 10 s by default). */
  readonly timeoutMs?: number;
}

export interface PodLookup {
  /**
   * From the caches when they hold the pod (with uid `uid`, when given) and its namespace and Istio's rule says
   * ambient; else from the API.
   */
  lookUp(namespace: string, name: string, uid?: string, timeoutMs?: number): Promise<PodAndNamespace>;
  /** Always from the API. */
  read(namespace: string, name: string, timeoutMs?: number): Promise<PodAndNamespace>;
}

export function createPodLookup(opts: PodLookupOptions): PodLookup {
  const defaultTimeoutMs = opts.timeoutMs ?? 3000;

  const get = async (path: string, what: string, timeoutMs: number): Promise<unknown> => {
    try {
      return await opts.client.get<unknown>(path, timeoutMs);
    } catch (err) {
      if (err instanceof KubeApiError)
        throw new PodLookupError(`${what}: look-up in the API answered HTTP ${err.status}: ${err.message}`, err.status === 404, err);
      throw new PodLookupError(`${what}: look-up in the API failed: ${errorMessage(err)}`, false, err);
    }
  };

  const read = async (namespace: string, name: string, timeoutMs = defaultTimeoutMs): Promise<PodAndNamespace> => {
    const what = `pod ${namespace}/${name}`;
    const ns = encodeURIComponent(namespace);
    // Side by side: both sit on the pod's start-up path.
    const [podJson, nsJson] = await Promise.all([
      get(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}`, what, timeoutMs),
      get(`/api/v1/namespaces/${ns}`, `${what}: namespace`, timeoutMs),
    ]);
    try {
      return { pod: parsePod(podJson), namespace: parseNamespace(nsJson) };
    } catch (err) {
      throw new PodLookupError(`${what}: the API answered a bad object: ${errorMessage(err)}`, false, err);
    }
  };

  return {
    read,
    async lookUp(namespace, name, uid, timeoutMs) {
      const pod = opts.pods.find(namespace, name);
      const ns = opts.namespaces.find('', namespace);
      const cached = pod !== undefined && ns !== undefined && (uid === undefined || uid === pod.uid);
      if (cached && isAmbient(pod, ns)) return { pod, namespace: ns };
      return read(namespace, name, timeoutMs);
    },
  };
}
