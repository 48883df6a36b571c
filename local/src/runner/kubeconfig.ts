import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/**
 * A kubeconfig for the local API: TLS on 127.0.0.1 (its self-signed certificate as the CA) with a bearer token. The
 * file is 0600: the token is what keeps other local users from starting root processes through pods.
 */
export function writeKubeconfig(path: string, clusterName: string, server: string, token: string, caCertPem: string | undefined): void {
  const name = `ambit-${clusterName}`;
  const cluster =
    caCertPem === undefined ? { server } : { server, 'certificate-authority-data': Buffer.from(caCertPem).toString('base64') };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
}
