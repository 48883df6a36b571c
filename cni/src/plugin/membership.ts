import { Agent } from 'node:https';
import { isRecord } from '@ambit/core/fields';
import { CniCode, CniPluginError } from './cni-error.ts';
import { httpExchange, HttpExchangeError } from './http-exchange.ts';
import { readKubeconfig, type ApiAccess } from './kubeconfig.ts';

/** Istio's opt-in label, on a namespace or a pod (value `ambient`); `none` on a pod opts it out. */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
/** Sidecar-injected pods carry this annotation; Istio never captures them for ambient as well. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';

/** What the API says about a pod: only the fields the decision reads. */
export interface PodFacts {
  readonly uid?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface NamespaceFacts {
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Istio's selection rule (istio cni/README.md "Selection API"): the pod label wins when it says `ambient` or `none`;
 * otherwise the namespace label decides. Sidecar-injected pods are never ambient.
 */
export function isAmbient(pod: PodFacts, namespace: NamespaceFacts): boolean {
  if (pod.annotations[SIDECAR_STATUS_ANNOTATION] !== undefined) return false;
  const podMode = pod.labels[DATAPLANE_MODE_LABEL];
  if (podMode === 'ambient') return true;
  if (podMode === 'none') return false;
  return namespace.labels[DATAPLANE_MODE_LABEL] === 'ambient';
}

/** The answer the plugin acts on: ambient or not, and the pod's uid for the agent (when the runtime gave none). */
export interface Membership {
  readonly ambient: boolean;
  readonly podUid?: string;
}

/**
 * How the plugin learns a pod's membership. The Node executable reads the API with the conflist's kubeconfig
 * (`lookUpMembership`); the node agent, running the plugin logic in-process, answers from its informer caches. A
 * failure to learn it must throw a CniPluginError (code 11: the runtime retries, and a pod that may be ambient does
 * not run uncaptured).
 */
export type MembershipLookup = (
  podNamespace: string,
  podName: string,
  podUid: string | undefined,
  timeoutMs: number,
) => Promise<Membership>;

/** Reads pod and namespace from the API with the kubeconfig at `kubeconfigPath`, side by side (both sit on the pod's start-up path). */
export async function lookUpMembership(
  kubeconfigPath: string,
  podNamespace: string,
  podName: string,
  timeoutMs: number,
): Promise<Membership> {
  let access: ApiAccess;
  try {
    access = readKubeconfig(kubeconfigPath);
  } catch (err) {
    throw new CniPluginError(
      CniCode.TRY_AGAIN_LATER,
      `cannot read the API to decide ambient capture: ${err instanceof Error ? err.message : String(err)}`,
      '',
      err,
    );
  }
  // One TLS connection for both reads: a second handshake would cost the start-up more than waiting for the first answer.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const ns = encodeURIComponent(podNamespace);
    const [podJson, nsJson] = await Promise.all([
      getObject(access, agent, `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(podName)}`, `pod ${podNamespace}/${podName}`, timeoutMs),
      getObject(access, agent, `/api/v1/namespaces/${ns}`, `namespace ${podNamespace}`, timeoutMs),
    ]);
    const pod = parsePodFacts(podJson, `pod ${podNamespace}/${podName}`);
    const namespace: NamespaceFacts = {
      labels: stringMap(metadataOf(nsJson, `namespace ${podNamespace}`)['labels'], `namespace ${podNamespace}`, 'labels'),
    };
    return { ambient: isAmbient(pod, namespace), ...(pod.uid === undefined ? {} : { podUid: pod.uid }) };
  } finally {
    agent.destroy();
  }
}

/**
 * Any failure to learn the labels is code 11 (try again later): the kubelet retries the sandbox, and meanwhile a pod
 * that may be ambient does not run uncaptured.
 */
async function getObject(access: ApiAccess, agent: Agent, path: string, what: string, timeoutMs: number): Promise<unknown> {
  let res;
  try {
    res = await httpExchange({
      target: { origin: access.origin, tls: access.tls, agent },
      method: 'GET',
      path: access.pathPrefix + path,
      headers: access.headers,
      timeoutMs,
    });
  } catch (err) {
    const why = err instanceof HttpExchangeError ? err.message : String(err);
    throw new CniPluginError(
      CniCode.TRY_AGAIN_LATER,
      `cannot read ${what} from the API to decide ambient capture: ${why}`,
      `API ${access.origin.origin}`,
      err,
    );
  }
  if (res.status !== 200) {
    throw new CniPluginError(
      CniCode.TRY_AGAIN_LATER,
      `cannot read ${what} from the API to decide ambient capture: HTTP ${res.status}`,
      res.body.slice(0, 512),
    );
  }
  try {
    return JSON.parse(res.body);
  } catch (err) {
    throw new CniPluginError(CniCode.TRY_AGAIN_LATER, `the API answered ${what} with a body that is not JSON`, res.body.slice(0, 200), err);
  }
}

export function parsePodFacts(x: unknown, what: string): PodFacts {
  const metadata = metadataOf(x, what);
  const uid = metadata['uid'];
  return {
    ...(typeof uid === 'string' && uid !== '' ? { uid } : {}),
    labels: stringMap(metadata['labels'], what, 'labels'),
    annotations: stringMap(metadata['annotations'], what, 'annotations'),
  };
}

function metadataOf(x: unknown, what: string): Record<string, unknown> {
  if (!isRecord(x) || !isRecord(x['metadata'])) {
    throw new CniPluginError(CniCode.TRY_AGAIN_LATER, `the API answered ${what} without "metadata"`);
  }
  return x['metadata'];
}

function stringMap(x: unknown, what: string, field: string): Record<string, string> {
  if (x === undefined || x === null) return {};
  if (!isRecord(x) || !Object.values(x).every((v) => typeof v === 'string')) {
    throw new CniPluginError(CniCode.TRY_AGAIN_LATER, `the API answered ${what} with a bad "metadata.${field}"`);
  }
  return x as Record<string, string>;
}
