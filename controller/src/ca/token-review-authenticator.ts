import { AuthenticationV1Api, CoreV1Api, type KubeConfig, type V1Pod, type V1TokenReview } from '@kubernetes/client-node';
import { CaError } from './ca-error.ts';
import type { Authenticator, CallerIdentity } from './authenticator.ts';
import { apiStatusCode } from './kube-secret.ts';

export interface TokenReviewAuthenticatorOptions {
  readonly kubeConfig: KubeConfig;
  /** Audience the projected token must be minted for; default `ambit-ca` (Istio's is `istio-ca`). */
  readonly audience?: string;
  /** `namespace/serviceaccount` of node proxies allowed to impersonate (istiod's CA_TRUSTED_NODE_ACCOUNTS); default `ambit-system/ztunnel`. */
  readonly trustedAccounts?: readonly string[];
}

const SA_PREFIX = 'system:serviceaccount:';
// Set by the API server for pod-bound projected tokens (KEP-1205); they tie the token to one live pod.
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

function single(values: readonly string[] | undefined): string | undefined {
  return values?.length === 1 ? values[0] : undefined;
}

/**
 * Cluster mode, after istiod's authenticators (security/pkg/server/ca/authenticate/kubeauth, node_auth.go): a
 * TokenReview proves the token is a live, pod-bound token for our audience; the pod it is bound to must still exist
 * with the same UID and service account. A trusted node-proxy account (ztunnel) then speaks for the pod's
 * `spec.nodeName`; any other account is a workload (a waypoint) limited to its own identity.
 * The UID check matters: a token from a deleted pod whose name was reused must not vouch for the new pod.
 */
export class TokenReviewAuthenticator implements Authenticator {
  private readonly auth: AuthenticationV1Api;
  private readonly core: CoreV1Api;
  private readonly audience: string;
  private readonly trusted: ReadonlySet<string>;

  constructor(options: TokenReviewAuthenticatorOptions) {
    this.auth = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.audience = options.audience ?? 'ambit-ca';
    this.trusted = new Set(options.trustedAccounts ?? ['ambit-system/ztunnel']);
  }

  async authenticate(token: string): Promise<CallerIdentity> {
    const review = await this.review(token);
    const status = review.status;
    if (status?.authenticated !== true) throw new CaError('CA_BAD_TOKEN', `token not authenticated: ${status?.error ?? 'no reason given'}`);
    // The API server lists the requested audiences the token is valid for; an empty answer means it did not check.
    if (!(status.audiences ?? []).includes(this.audience))
      throw new CaError('CA_BAD_TOKEN', `token is not valid for audience ${this.audience}`);

    const username = status.user?.username ?? '';
    const account = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(':') : [];
    const [namespace, serviceAccount] = account;
    if (account.length !== 2 || namespace === undefined || serviceAccount === undefined) {
      throw new CaError('CA_BAD_TOKEN', `token user ${username} is not a service account`);
    }
    const nodeProxy = this.trusted.has(`${namespace}/${serviceAccount}`);
    const podName = single(status.user?.extra?.[POD_NAME_EXTRA]);
    const podUid = single(status.user?.extra?.[POD_UID_EXTRA]);
    if (podName === undefined || podUid === undefined)
      throw new CaError('CA_BAD_TOKEN', 'token is not bound to a pod (use a projected service account token)');

    const pod = await this.readPod(namespace, podName);
    const who = `pod ${namespace}/${podName}`;
    if (pod === undefined) throw new CaError('CA_BAD_TOKEN', `${who} the token is bound to no longer exists`);
    if (pod.metadata?.uid !== podUid)
      throw new CaError('CA_BAD_TOKEN', `${who} has UID ${pod.metadata?.uid ?? 'none'}, the token was issued for UID ${podUid}`);
    const podAccount = pod.spec?.serviceAccountName ?? 'default';
    if (podAccount !== serviceAccount)
      throw new CaError('CA_BAD_TOKEN', `${who} runs as ${podAccount}, the token is for ${serviceAccount}`);
    const caller = `${namespace}/${serviceAccount} (pod ${podName})`;
    // Any other account's pod (a waypoint) may have its own identity only, as istiod grants its callers.
    if (!nodeProxy) return { kind: 'workload', namespace, serviceAccount, caller };
    const node = pod.spec?.nodeName ?? '';
    if (node === '') throw new CaError('CA_BAD_TOKEN', `${who} is not scheduled on a node`);
    return { node, caller };
  }

  private async review(token: string): Promise<V1TokenReview> {
    try {
      return await this.auth.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } },
      });
    } catch (err) {
      throw new CaError(
        'CA_AUTH_BACKEND_UNAVAILABLE',
        `TokenReview failed (HTTP ${apiStatusCode(err) ?? 'n/a'}); is the controller allowed to create tokenreviews?`,
        { cause: err },
      );
    }
  }

  private async readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (apiStatusCode(err) === 404) return undefined;
      throw new CaError('CA_AUTH_BACKEND_UNAVAILABLE', `reading pod ${namespace}/${name} failed (HTTP ${apiStatusCode(err) ?? 'n/a'})`, {
        cause: err,
      });
    }
  }
}
