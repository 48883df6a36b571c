import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/**
 * A kubeconfig for the local API: plain HTTP on 127.0.0.1 with a bearer token (the port is loopback-only and the
 * file is 0600, so the token is what keeps other local users from starting root processes through pods).
 */
export function writeKubeconfig(path: string, clusterName: string, server: string, token: string): void {
  const name = `ambit-${clusterName}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
}
