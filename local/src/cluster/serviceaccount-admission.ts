import { randomInt } from 'node:crypto';
import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import type { StoreView } from './store-view.ts';

/**
 * kube-apiserver's ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount) on pod CREATE: the pod's
 * ServiceAccount must exist, and unless `automountServiceAccountToken` (the pod's, else the ServiceAccount's) is
 * false, every container and init container without a mount at /var/run/secrets/kubernetes.io/serviceaccount gets
 * the `kube-api-access-xxxxx` projected volume (token, the cluster CA from ConfigMap `kube-root-ca.crt`, the
 * namespace) mounted read-only there.
 *
 * One deviation: a missing ServiceAccount named `default` is let through (automounted), because the local cluster
 * applies a namespace and its pods in one go while the ServiceAccount controller creates `default` just after; a
 * real cluster refuses such a pod and its ReplicaSet controller retries. A missing named ServiceAccount is refused,
 * with the API server's message.
 */

export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
const VOLUME_PREFIX = 'kube-api-access-';
/** The kubelet asks for 3607 s (serviceaccount.WarnOnlyBoundTokenExpirationSeconds). */
const TOKEN_EXPIRATION_SECONDS = 3607;

export function admitServiceAccount(view: StoreView, pod: KubeObject): void {
  const spec = asRecord(pod['spec']);
  pod['spec'] = spec;
  const ns = pod.metadata.namespace ?? 'default';
  const saName =
    typeof spec['serviceAccountName'] === 'string' && spec['serviceAccountName'] !== '' ? spec['serviceAccountName'] : 'default';
  const sa = view.find('ServiceAccount', ns, saName);
  if (sa === undefined && saName !== 'default') {
    throw ApiError.forbidden(
      { group: '', plural: 'pods', kind: 'Pod' },
      pod.metadata.name ?? '',
      `error looking up service account ${ns}/${saName}: serviceaccount "${saName}" not found`,
    );
  }
  const podPref = spec['automountServiceAccountToken'];
  const saPref = sa?.['automountServiceAccountToken'];
  const automount = typeof podPref === 'boolean' ? podPref : typeof saPref === 'boolean' ? saPref : true;
  if (automount) mountToken(spec);
}

function mountToken(spec: Record<string, unknown>): void {
  const volumes = Array.isArray(spec['volumes']) ? spec['volumes'].filter(isRecord) : [];
  const existing = volumes.find((v) => typeof v['name'] === 'string' && v['name'].startsWith(VOLUME_PREFIX));
  const volumeName = typeof existing?.['name'] === 'string' ? existing['name'] : VOLUME_PREFIX + randomSuffix();
  let needed = false;
  for (const field of ['initContainers', 'containers']) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const c of list.filter(isRecord)) {
      const mounts = Array.isArray(c['volumeMounts']) ? c['volumeMounts'].filter(isRecord) : [];
      // An existing mount at the default path prevents mounting of the API token.
      if (mounts.some((m) => m['mountPath'] === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
      c['volumeMounts'] = [...mounts, { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
      needed = true;
    }
  }
  if (existing !== undefined || !needed) return;
  spec['volumes'] = [
    ...volumes,
    {
      name: volumeName,
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    },
  ];
}

/** apiserver's SimpleNameGenerator: 5 characters from an alphabet without vowels or look-alikes. */
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from({ length: 5 }, () => alphabet[randomInt(alphabet.length)]).join('');
}
