import { AmbitError } from '@ambit/core';

/**
 * The few steps a container runtime takes between "namespaces exist" and "exec the container's process", done by a
 * generated `sh` script that `ip netns exec` runs in the container's fresh mount namespace (ip-netns(8): it unshares
 * the mount namespace, makes `/` a recursive slave and binds `/etc/netns/<ns>/*` over `/etc`, so nothing mounted here
 * reaches the host): the volume mounts, a read-only root, then the switch to the container's user and capabilities
 * (setpriv(1)), ending in `exec` of the container's argv. Needs `mount` and `setpriv` (util-linux).
 *
 * Mount sources can be hidden by an earlier mount's target (a volume at `/run/ambit` covers the cluster's state
 * directory under it, where emptyDirs and host paths live). So every source is first bound into a private staging
 * tmpfs, which is then held open as fd 9; each target is mounted from `/proc/self/fd/9/<i>`, a path the kernel
 * resolves through the open file, whatever is mounted over its name by then.
 */

export interface ContainerMount {
  /** Host path of what is mounted (a directory, or a file for subPath/file volumes). */
  readonly source: string;
  /** Absolute path inside the container. */
  readonly target: string;
  /** Whether the source is a directory (else a file or socket); decides what the mount point is created as. */
  readonly directory: boolean;
  readonly readOnly: boolean;
  /** Kubernetes' `mountPropagation`: None → rprivate, HostToContainer (and Bidirectional, see README) → rslave. */
  readonly propagation: 'None' | 'HostToContainer' | 'Bidirectional';
}

export interface ContainerSetup {
  /** A host directory the script may mount a tmpfs on (the staging area); it must exist and be empty. */
  readonly stageDir: string;
  readonly mounts: readonly ContainerMount[];
  /** `securityContext.readOnlyRootFilesystem`: the mount at `/` is remounted read-only in the container's view. */
  readonly readOnlyRoot: boolean;
  /** setpriv(1) arguments (user, groups, capabilities) placed before `--`; empty: the process keeps root. */
  readonly setpriv: readonly string[];
  /** The container's working directory, entered once the mounts are made: it may lie inside one (an image's files). */
  readonly workingDir?: string;
}

/**
 * argv that performs `setup` and then execs `argv` — to be run inside the container's namespaces. Mount points that
 * do not exist are created first (mkdir -p / an empty file), on the host's filesystem when no volume covers them.
 */
export function wrapContainerArgv(setup: ContainerSetup, argv: readonly string[]): string[] {
  const lines = ['set -eu'];
  if (setup.mounts.length > 0) {
    lines.push(`mount -t tmpfs -o mode=0700,size=16k ambit-stage ${q(setup.stageDir)}`);
    setup.mounts.forEach((m, i) => {
      const stage = `${setup.stageDir}/${i}`;
      lines.push(m.directory ? `mkdir ${q(stage)}` : `: > ${q(stage)}`);
      lines.push(`mount --rbind ${q(m.source)} ${q(stage)}`);
    });
    lines.push(`exec 9< ${q(setup.stageDir)}`);
    // Parents before children, as containerd orders a spec's mounts: a volume inside another volume lands on top.
    const ordered = setup.mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.target) - depth(b.m.target));
    for (const { m, i } of ordered) {
      if (!m.target.startsWith('/')) throw new AmbitError('BAD_MOUNT', `BUG: mount target ${m.target} is not absolute`);
      const target = q(m.target);
      lines.push(m.directory ? `mkdir -p ${target}` : `mkdir -p "$(dirname ${target})"; [ -e ${target} ] || : > ${target}`);
      lines.push(`mount --no-canonicalize --rbind /proc/self/fd/9/${i} ${target}`);
      lines.push(`mount --make-${m.propagation === 'None' ? 'rprivate' : 'rslave'} ${target}`);
      if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
    }
    lines.push('exec 9<&-');
  }
  if (setup.readOnlyRoot) lines.push('mount -o remount,bind,ro /');
  if (setup.workingDir !== undefined) lines.push(`cd ${q(setup.workingDir)}`);
  lines.push(setup.setpriv.length > 0 ? `exec setpriv ${setup.setpriv.map(q).join(' ')} -- "$@"` : 'exec "$@"');
  for (const m of setup.mounts) {
    for (const p of [m.source, m.target]) {
      // A shell-quoted path is safe anywhere but in mount(8)'s own option parsing, which splits on commas only in -o.
      if (p.includes('\n') || p.includes('\0')) throw new AmbitError('BAD_MOUNT', `mount path ${JSON.stringify(p)} holds a newline`);
    }
  }
  return ['/usr/bin/sh', '-c', lines.join('\n'), 'ambit-container', ...argv];
}

function depth(path: string): number {
  return path.split('/').filter((s) => s !== '').length;
}

/** Single-quotes for sh: the only character needing care inside single quotes is the quote itself. */
function q(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
