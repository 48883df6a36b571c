// The kubeconfig the plugin's Node fallback reads pods with (cni/README.md "Config": `kubeconfig`), written from the
// agent's own credentials as istio-cni writes `ZZZ-istio-cni-kubeconfig` from its service account (install-cni
// kubeconfig.go). The plugin runs on the host, where the files the agent's credentials name (the projected token, the
// CA bundle) are not: everything is inlined, and rewritten when the token rotates (the installer calls this at every
// resync and writes only a changed text).
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { AmbitError, errorMessage, isRecord } from '@ambit/core';

/** The agent's credentials cannot be given to the plugin (exec plugins, basic auth: the plugin's reader refuses them). */
export class PluginKubeconfigError extends AmbitError {
  constructor(message: string, cause?: unknown) {
    super('CNI_KUBECONFIG', message, { cause });
  }
}

/** A self-contained kubeconfig (server, CA, token or client certificate inlined) for the agent's current context. */
export async function pluginKubeconfig(kc: KubeConfig): Promise<string> {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (cluster === null) throw new PluginKubeconfigError('the agent’s kubeconfig names no current cluster');
  const file = (path: string, what: string): Promise<Buffer> =>
    readFile(path).catch((err: unknown) => {
      throw new PluginKubeconfigError(`cannot read the ${what} ${path}: ${errorMessage(err)}`, err);
    });
  const caData =
    cluster.caData ?? (cluster.caFile === undefined ? undefined : (await file(cluster.caFile, 'CA bundle')).toString('base64'));
  const u: Record<string, string> = {};
  if (user?.token !== undefined) u['token'] = user.token;
  else if (isRecord(user?.authProvider) && user.authProvider['name'] === 'tokenFile') {
    // client-node's in-cluster user: the projected service-account token.
    const config: unknown = user.authProvider['config'];
    const tokenFile = isRecord(config) && typeof config['tokenFile'] === 'string' ? config['tokenFile'] : undefined;
    if (tokenFile === undefined) throw new PluginKubeconfigError('the in-cluster user names no tokenFile');
    u['token'] = (await file(tokenFile, 'service account token')).toString('utf8').trim();
  } else if (user?.certData !== undefined || user?.certFile !== undefined) {
    u['client-certificate-data'] = user.certData ?? (await file(user.certFile ?? '', 'client certificate')).toString('base64');
    const key = user.keyData ?? (user.keyFile === undefined ? undefined : (await file(user.keyFile, 'client key')).toString('base64'));
    if (key === undefined) throw new PluginKubeconfigError('the agent’s client certificate has no key');
    u['client-key-data'] = key;
  } else if (user?.exec !== undefined || user?.authProvider !== undefined || user?.username !== undefined) {
    throw new PluginKubeconfigError('the agent’s user authenticates with an exec/auth provider or basic auth, which the plugin cannot use');
  }
  const c: Record<string, unknown> = { server: cluster.server };
  if (caData !== undefined) c['certificate-authority-data'] = caData;
  if (cluster.skipTLSVerify) c['insecure-skip-tls-verify'] = true;
  if (cluster.tlsServerName !== undefined) c['tls-server-name'] = cluster.tlsServerName;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cluster', cluster: c }],
    users: [{ name: 'ambit-cni', user: u }],
    contexts: [{ name: 'ambit-cni', context: { cluster: 'cluster', user: 'ambit-cni' } }],
    'current-context': 'ambit-cni',
  });
}
