import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createCaCertificate, generateP256KeyPair, issueLeafCertificate, loadIssuer, privateKeyPem } from '@ambit/core/identity';

/**
 * Test-only: the two Kubernetes endpoints the TokenReview authenticator uses, over HTTPS on 127.0.0.1:0, because no
 * real API server can run here. It follows the real server where the authenticator can observe it:
 * - POST /apis/authentication.k8s.io/v1/tokenreviews → 201 TokenReview. Empty spec.audiences means the server's own
 *   audience; status.audiences is the intersection; a bound token whose pod is gone or has another UID is not
 *   authenticated (the service-account token authenticator checks the bound object); failures carry only `error`
 *   and an empty `user`. An empty token is 400 BadRequest.
 * - GET /api/v1/namespaces/{ns}/pods/{name} → 200 Pod or 404 Status NotFound.
 * - Requests without the controller's bearer token → 401 Status Unauthorized; anything else → 404 Status.
 */

export interface FakeToken {
  readonly token: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Audiences the token was minted for. */
  readonly audiences: readonly string[];
  /** The pod a projected token is bound to; absent for a legacy Secret-based token. */
  readonly boundPod?: { readonly name: string; readonly uid: string };
}

export interface FakeKubeAuthApi {
  /** Authenticates as the controller. */
  readonly kubeConfig: KubeConfig;
  /** Pods by `namespace/name`; tests add, replace and delete. */
  readonly pods: Map<string, V1Pod>;
  readonly tokens: FakeToken[];
  /** Runs after a TokenReview is answered and before the next request: lets a test race a pod change against it. */
  afterReview: (() => void) | undefined;
  close(): Promise<void>;
}

const SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

function status(res: ServerResponse, code: number, reason: string, message: string, details?: Record<string, string>): void {
  send(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** A pod as the API server returns it, scheduled and running. */
export function runningPod(namespace: string, name: string, serviceAccount: string, nodeName: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: randomUUID(), resourceVersion: '1', creationTimestamp: new Date() },
    spec: { serviceAccountName: serviceAccount, serviceAccount, nodeName, containers: [{ name: 'main', image: 'example' }] },
    status: { phase: 'Running' },
  };
}

export async function startFakeKubeAuthApi(adminToken: string): Promise<FakeKubeAuthApi> {
  const now = Date.now();
  const ca = await createCaCertificate({
    subject: [{ CN: ['fake-kube-ca'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const keys = await generateP256KeyPair();
  const servingCert = await issueLeafCertificate({
    publicKey: keys.publicKey,
    sans: [{ type: 'ip', value: '127.0.0.1' }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    issuer: await loadIssuer(ca.certPem, ca.keyPem),
  });
  const pods = new Map<string, V1Pod>();
  const tokens: FakeToken[] = [];

  const review = (body: unknown): { code: number; body: unknown } => {
    const spec = (body as { spec?: { token?: unknown; audiences?: unknown } } | null)?.spec ?? {};
    const token = typeof spec.token === 'string' ? spec.token : '';
    if (token === '') return { code: 400, body: undefined };
    const requested =
      Array.isArray(spec.audiences) && spec.audiences.length > 0
        ? spec.audiences.filter((a): a is string => typeof a === 'string')
        : [SERVER_AUDIENCE];
    const reply = (status: Record<string, unknown>): { code: number; body: unknown } => ({
      code: 201,
      body: {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: { token, audiences: spec.audiences },
        status,
      },
    });
    const fail = (why: string): { code: number; body: unknown } => reply({ user: {}, error: `[invalid bearer token, ${why}]` });
    const t = tokens.find((x) => x.token === token);
    if (t === undefined) return fail('square/go-jose: error in cryptographic primitive');
    const audiences = requested.filter((a) => t.audiences.includes(a));
    if (audiences.length === 0)
      return fail(`token audiences ${JSON.stringify(t.audiences)} is invalid for the target audiences ${JSON.stringify(requested)}`);
    const extra: Record<string, string[]> = {};
    if (t.boundPod !== undefined) {
      const pod = pods.get(`${t.namespace}/${t.boundPod.name}`);
      if (pod === undefined) return fail(`pods "${t.boundPod.name}" not found`);
      if (pod.metadata?.uid !== t.boundPod.uid)
        return fail(`pod "${t.boundPod.name}" UID (${pod.metadata?.uid ?? ''}) does not match claim (${t.boundPod.uid})`);
      extra['authentication.kubernetes.io/pod-name'] = [t.boundPod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [t.boundPod.uid];
      extra['authentication.kubernetes.io/node-name'] = [pod.spec?.nodeName ?? ''];
    }
    extra['authentication.kubernetes.io/credential-id'] = [`JTI=${randomUUID()}`];
    return reply({
      authenticated: true,
      user: {
        username: `system:serviceaccount:${t.namespace}:${t.serviceAccount}`,
        uid: randomUUID(),
        groups: ['system:serviceaccounts', `system:serviceaccounts:${t.namespace}`, 'system:authenticated'],
        extra,
      },
      audiences,
    });
  };

  const api: FakeKubeAuthApi = {
    kubeConfig: new KubeConfig(),
    pods,
    tokens,
    afterReview: undefined,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.headers.authorization !== `Bearer ${adminToken}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const result = review(await readJson(req));
      if (result.code === 400) return status(res, 400, 'BadRequest', 'token is required for TokenReview in authentication');
      send(res, result.code, result.body);
      api.afterReview?.();
      return;
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m !== null) {
      const [, ns = '', name = ''] = m;
      const pod = pods.get(`${ns}/${name}`);
      if (pod === undefined) return status(res, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
      return send(res, 200, pod);
    }
    status(res, 404, 'NotFound', 'the server could not find the requested resource');
  };

  const server: Server = createServer({ cert: servingCert, key: await privateKeyPem(keys.privateKey) }, (req, res) => {
    handle(req, res).catch((err: unknown) => status(res, 500, 'InternalError', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: url, caData: Buffer.from(ca.certPem).toString('base64') }],
    users: [{ name: 'ambit-controller', token: adminToken }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'ambit-controller' }],
    currentContext: 'fake',
  });
  return api;
}
