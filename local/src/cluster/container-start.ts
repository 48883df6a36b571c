import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { ContainerSetup } from '../proc/container-wrapper.ts';
import { clusterDnsMounts, containerMounts, usesClusterDnsOnHostNetwork } from './container-mounts.ts';
import { containerArgv, hostPathOf, localImageFor, withImageEnv, type LocalImage } from './container-spec.ts';
import { containerEnv } from './pod-env.ts';
import { containerSecurity } from './security-context.ts';
import { podDir, type PodVolumes } from './volumes.ts';

/** Everything the supervisor needs to start one container of a pod, derived from the pod spec and the node. */
export interface PreparedContainer {
  readonly command: string[];
  readonly env: Record<string, string>;
  readonly setup: ContainerSetup;
  /** Where a path of the container's view is on the host (for checks made before it starts). */
  readonly hostPath: (containerPath: string) => string;
}

export interface PrepareContext {
  readonly stateDir: string;
  readonly images: Readonly<Record<string, LocalImage>> | undefined;
  readonly volumes: PodVolumes;
  /** Services of the pod's namespace (their `_SERVICE_HOST`/`_PORT` variables). */
  readonly services: readonly KubeObject[];
  /** The pod's /etc files (hosts, resolv.conf), for a host-network pod on cluster DNS. */
  readonly etcDir: string;
}

/** Throws ContainerConfigError (the kubelet's CreateContainerConfigError) when the spec cannot be honoured. */
export function prepareContainer(
  pod: KubeObject,
  container: Record<string, unknown>,
  ctx: PrepareContext & { readonly workingDir: string },
): PreparedContainer {
  const image = localImageFor(container, ctx.images);
  const env = withImageEnv(containerEnv(pod, container, ctx.services), image);
  const command = containerArgv(container, env, image);
  const mounts = containerMounts(container, ctx.volumes, env);
  if (usesClusterDnsOnHostNetwork(asRecord(pod['spec']))) mounts.unshift(...clusterDnsMounts(ctx.etcDir));
  // The image's files first: the wrapper mounts parents before children, so a volume inside them still lands on top.
  if (image?.files !== undefined)
    mounts.unshift({ source: image.files.hostDir, target: image.files.mountPath, directory: true, readOnly: true, propagation: 'None' });
  const security = containerSecurity(pod, container, image);
  const stageDir = join(podDir(ctx.stateDir, pod.metadata.uid ?? ''), 'stage', String(container['name'] ?? ''));
  mkdirSync(stageDir, { recursive: true, mode: 0o700 });
  return {
    command,
    env,
    setup: { stageDir, mounts, readOnlyRoot: security.readOnlyRoot, setpriv: security.setpriv, workingDir: ctx.workingDir },
    hostPath: (p) => hostPathOf(image, p),
  };
}
