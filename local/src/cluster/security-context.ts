import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import type { LocalImage } from './container-spec.ts';
import { ContainerConfigError, securityField } from './container-mounts.ts';

/**
 * What the local kubelet enforces of a container's `securityContext` (pod-level fields merged under the container's,
 * container winning, as the kubelet does), turned into setpriv(1) arguments:
 * - `runAsUser`/`runAsGroup`/`supplementalGroups`/`fsGroup`: the process runs with those ids (default: the local
 *   image's user, else root), so a file it cannot read fails here as in a cluster;
 * - `runAsNonRoot`: refused with the kubelet's own messages (CreateContainerConfigError);
 * - `capabilities` (unless `privileged`): the bounding set becomes containerd's default set, minus `drop` (ALL drops
 *   everything), plus `add` — for root the effective set; a non-root user keeps none, as with containerd;
 * - `allowPrivilegeEscalation: false`: no_new_privs;
 * - `readOnlyRootFilesystem`: reported in `readOnlyRoot` (container-wrapper.ts remounts `/` read-only).
 * Accepted without effect (documented in local/README.md): `seccompProfile`, `seLinuxOptions`, `appArmorProfile`,
 * `procMount`, `sysctls`. A container that names no capabilities keeps root's full set (everything already ran as
 * root on the host before securityContext was read; see README "Limits").
 */

export interface ContainerSecurity {
  readonly setpriv: readonly string[];
  readonly readOnlyRoot: boolean;
  readonly uid: number;
}

/** containerd's default capabilities (oci.defaultUnixCaps), what a container gets with no `capabilities`. */
const DEFAULT_CAPS = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
];

export function containerSecurity(pod: KubeObject, container: Record<string, unknown>, image: LocalImage | undefined): ContainerSecurity {
  const spec = asRecord(pod['spec']);
  const field = (name: string): unknown => securityField(spec, container, name);
  const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
  const runAsUser = int(field('runAsUser'));
  const uid = runAsUser ?? image?.user ?? 0;
  const gid = int(field('runAsGroup')) ?? (runAsUser === undefined ? (image?.group ?? 0) : 0);
  const podRef = `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
  const cname = String(container['name'] ?? '');
  if (field('runAsNonRoot') === true && uid === 0) {
    // pkg/kubelet/kuberuntime/security_context_others.go verifyRunAsNonRoot
    throw new ContainerConfigError(
      runAsUser !== undefined
        ? `container's runAsUser breaks non-root policy (pod: "${podRef}", container: ${cname})`
        : `container has runAsNonRoot and image will run as root (pod: "${podRef}", container: ${cname})`,
    );
  }
  const args: string[] = [];
  const podSc = asRecord(spec['securityContext']);
  const groups = [
    ...(Array.isArray(podSc['supplementalGroups']) ? podSc['supplementalGroups'] : []),
    ...(int(podSc['fsGroup']) === undefined ? [] : [podSc['fsGroup']]),
  ]
    .map(int)
    .filter((g): g is number => g !== undefined);
  if (uid !== 0 || gid !== 0 || groups.length > 0) {
    args.push(`--reuid=${uid}`, `--regid=${gid}`, groups.length > 0 ? `--groups=${[...new Set(groups)].join(',')}` : '--clear-groups');
  }
  const privileged = field('privileged') === true;
  const caps = asRecord(asRecord(container['securityContext'])['capabilities']);
  if (!privileged && (caps['add'] !== undefined || caps['drop'] !== undefined)) {
    const name = (c: unknown): string => String(c).toUpperCase().replace(/^CAP_/, '');
    const drop = new Set((Array.isArray(caps['drop']) ? caps['drop'] : []).map(name));
    const add = (Array.isArray(caps['add']) ? caps['add'] : []).map(name);
    const kept = drop.has('ALL') ? [] : DEFAULT_CAPS.filter((c) => !drop.has(c));
    const set = add.includes('ALL') ? ['all'] : [...new Set([...kept, ...add])].map((c) => c.toLowerCase());
    args.push(`--bounding-set=-all${set.map((c) => `,+${c}`).join('')}`);
  }
  if (!privileged && asRecord(container['securityContext'])['allowPrivilegeEscalation'] === false) args.push('--no-new-privs');
  return { setpriv: args, readOnlyRoot: field('readOnlyRootFilesystem') === true, uid };
}
