import { createCaCertificate } from '@ambit/core/identity';
import { KUBERNETES_SERVICE_IP, KUBERNETES_SERVICE_NAMES } from '../cluster/kubernetes-service.ts';

/**
 * A throw-away self-signed serving certificate for 127.0.0.1 (ECDSA P-256, X.509 v3), made by core's CA code
 * (@peculiar/x509). Why TLS on a loopback port at all: client-go (kubectl, informers) only sends a bearer token over
 * TLS (clientcmd's getUserIdentificationPartialConfig; kubernetes/kubectl#744), so a token-protected plain-HTTP API is
 * unusable from kubectl. The certificate is its own CA: kubeconfigs carry it as `certificate-authority-data`.
 */

export interface ServingCert {
  readonly certPem: string;
  readonly keyPem: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * A certificate valid from an hour ago (clock skew) for `validDays` (default 3650), for IP 127.0.0.1 and what
 * kube-apiserver's certificate names so in-cluster clients can verify it: the `default/kubernetes` Service's IP and
 * DNS names (KUBERNETES_SERVICE_HOST, `kubernetes.default.svc`), `localhost`, and `extraIps` (the nodes' addresses,
 * where the API is reached from node namespaces).
 */
export async function createServingCert(
  commonName = 'ambit-local-api',
  now = new Date(),
  validDays = 3650,
  extraIps: readonly string[] = [],
): Promise<ServingCert> {
  const ips = [...new Set(['127.0.0.1', KUBERNETES_SERVICE_IP, ...extraIps])];
  return createCaCertificate({
    subject: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - HOUR_MS),
    notAfter: new Date(now.getTime() + validDays * DAY_MS),
    sans: [
      ...ips.map((value) => ({ type: 'ip' as const, value })),
      ...['localhost', ...KUBERNETES_SERVICE_NAMES].map((value) => ({ type: 'dns' as const, value })),
    ],
  });
}
