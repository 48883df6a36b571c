import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, asRecord, isRecord } from '@ambit/core';
import type { ContainerMount } from '../proc/container-wrapper.ts';
import { checkPayloadPath } from './atomic-writer.ts';
import { expandVars } from './container-spec.ts';
import type { PodVolumes } from './volumes.ts';

/** A container whose mounts cannot be made; the kubelet reports it as `CreateContainerConfigError`. */
export class ContainerConfigError extends AmbitError {
  constructor(message: string) {
    super('CREATE_CONTAINER_CONFIG_ERROR', message);
  }
}

/**
 * A container's `volumeMounts` as bind mounts: `subPath` (created as a directory when missing, as the kubelet does) and
 * `subPathExpr` (expanded from the container's environment; `$(VAR)` only), `readOnly` (always for volumes the
 * kubelet writes), `mountPropagation`.
 */
export function containerMounts(
  container: Record<string, unknown>,
  volumes: PodVolumes,
  env: Readonly<Record<string, string>>,
): ContainerMount[] {
  const cname = String(container['name'] ?? '');
  const mounts: ContainerMount[] = [];
  for (const vm of Array.isArray(container['volumeMounts']) ? container['volumeMounts'].filter(isRecord) : []) {
    const name = String(vm['name'] ?? '');
    const volume = volumes.volumes.get(name);
    const target = vm['mountPath'];
    if (volume === undefined) throw new ContainerConfigError(`cannot find volume "${name}" to mount into container "${cname}"`);
    if (typeof target !== 'string' || !target.startsWith('/')) {
      throw new ContainerConfigError(`volumeMount "${name}" of container "${cname}": mountPath must be an absolute path`);
    }
    let sub = typeof vm['subPath'] === 'string' ? vm['subPath'] : '';
    if (typeof vm['subPathExpr'] === 'string' && vm['subPathExpr'] !== '') {
      sub = expandVars(vm['subPathExpr'], (v) => (Object.hasOwn(env, v) ? env[v] : undefined));
    }
    let source = volume.path;
    if (sub !== '') {
      const bad = checkPayloadPath(sub);
      if (bad !== undefined)
        throw new ContainerConfigError(`failed to prepare subPath for volumeMount "${name}" of container "${cname}": ${bad}`);
      source = join(volume.path, sub);
      if (!exists(source)) mkdirSync(source, { recursive: true, mode: 0o755 });
    }
    const propagation = vm['mountPropagation'];
    mounts.push({
      source,
      target,
      directory: isDirectory(source),
      readOnly: vm['readOnly'] === true || volume.kubeletWritten,
      propagation: propagation === 'HostToContainer' || propagation === 'Bidirectional' ? propagation : 'None',
    });
  }
  return mounts;
}

/** `hostNetwork` with `dnsPolicy: ClusterFirstWithHostNet`: the pod's own hosts and resolv.conf over the node's. */
export function usesClusterDnsOnHostNetwork(spec: Record<string, unknown>): boolean {
  return spec['hostNetwork'] === true && spec['dnsPolicy'] === 'ClusterFirstWithHostNet';
}

/** The mounts that give a host-network pod the cluster's names: files in `etcDir` over /etc/hosts and resolv.conf. */
export function clusterDnsMounts(etcDir: string): ContainerMount[] {
  return ['hosts', 'resolv.conf'].map((f) => ({
    source: join(etcDir, f),
    target: join('/etc', f),
    directory: false,
    readOnly: false,
    propagation: 'None' as const,
  }));
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The pod-level then container-level value of a securityContext field (container wins), as the kubelet merges them. */
export function securityField(spec: Record<string, unknown>, container: Record<string, unknown>, field: string): unknown {
  const c = asRecord(container['securityContext'])[field];
  return c !== undefined ? c : asRecord(spec['securityContext'])[field];
}
