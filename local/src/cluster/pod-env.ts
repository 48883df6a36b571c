import { asRecord, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { expandVars } from './container-spec.ts';
import { downwardFieldValue } from './downward-api.ts';

/**
 * The environment a container starts with, as a kubelet builds it: the container's `env` (literal values and
 * downward-API `fieldRef`s), Docker-link-style `<SVC>_SERVICE_HOST`/`_PORT` variables for the Services of the pod's
 * namespace, and HOSTNAME.
 */
export function containerEnv(pod: KubeObject, container: Record<string, unknown>, services: readonly KubeObject[]): Record<string, string> {
  const env: Record<string, string> = { HOSTNAME: pod.metadata.name ?? '' };
  for (const svc of services) {
    const spec = asRecord(svc['spec']);
    const ip = spec['clusterIP'];
    const ports = Array.isArray(spec['ports']) ? spec['ports'].filter(isRecord) : [];
    if (typeof ip !== 'string' || ip === 'None' || ports.length === 0) continue;
    const prefix = (svc.metadata.name ?? '').toUpperCase().replace(/-/g, '_');
    env[`${prefix}_SERVICE_HOST`] = ip;
    env[`${prefix}_SERVICE_PORT`] = String(ports[0]?.['port'] ?? '');
  }
  for (const item of Array.isArray(container['env']) ? container['env'] : []) {
    const e = asRecord(item);
    const name = e['name'];
    if (typeof name !== 'string') continue;
    if (typeof e['value'] === 'string') env[name] = expandVars(e['value'], (v) => (Object.hasOwn(env, v) ? env[v] : undefined));
    const path = asRecord(asRecord(e['valueFrom'])['fieldRef'])['fieldPath'];
    if (typeof path === 'string') env[name] = downwardFieldValue(pod, path);
  }
  return env;
}
