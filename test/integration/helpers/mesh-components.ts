import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nodeComponentPaths, type ClusterPaths } from '@ambit/local';

// Where a local cluster's Ambit components log and which process each is, whichever way the cluster installed them
// (local/src/runner/cluster.ts InstallMode, chosen by AMBIT_LOCAL_INSTALL): processes of the runner (`runner`), or
// the pods of deploy/overlays/local (`manifests`: the controller Deployment, the ztunnel and node-agent DaemonSets).

export type MeshComponent = 'ztunnel' | 'node-agent' | 'controller';

/**
 * How the cluster runs Ambit: the runner's own processes leave the controller's pid file; otherwise Ambit was
 * installed from the manifests (by the runner, or by `kubectl apply -k`).
 */
export function installMode(paths: ClusterPaths): 'runner' | 'manifests' {
  return existsSync(join(paths.stateDir, 'controller', 'controller.pid')) ? 'runner' : 'manifests';
}

/** The pod's `app` label and its container, per component (deploy/). */
const PODS: Record<MeshComponent, { readonly app: string; readonly container: string; readonly argv: string }> = {
  ztunnel: { app: 'ztunnel', container: 'ztunnel', argv: 'ztunnel' },
  // The image runs the controller and the node agent from their bundles (deploy/image/ambit).
  'node-agent': { app: 'ambit-node-agent', container: 'node-agent', argv: 'cni/build/bundle/node-agent.mjs' },
  controller: { app: 'ambit-controller', container: 'controller', argv: 'controller/build/bundle/controller.mjs' },
};

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string };
}

/** The running pod of `component` (on `node` for the DaemonSets), read with kubectl as an operator would. */
export function componentPod(paths: ClusterPaths, component: MeshComponent, node?: string): string {
  const out = execFileSync(
    'kubectl',
    ['--kubeconfig', paths.kubeconfig, 'get', 'pods', '-n', 'ambit-system', '-l', `app=${PODS[component].app}`, '-o', 'json'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  const items = (JSON.parse(out) as { items: PodJson[] }).items.filter(
    (p) => p.metadata.deletionTimestamp === undefined && p.status.phase === 'Running' && (node === undefined || p.spec.nodeName === node),
  );
  const pod = items[0];
  if (pod === undefined) throw new Error(`no running ${component} pod${node === undefined ? '' : ` on ${node}`}`);
  return pod.metadata.name;
}

/** The component's log (empty when it has none yet): the runner's file, or its pod's container log. */
export function componentLog(paths: ClusterPaths, component: MeshComponent, node?: string): string {
  let file: string;
  if (installMode(paths) === 'runner') {
    file =
      component === 'controller'
        ? join(paths.logDir, 'ambit-system', 'controller', 'controller.log')
        : join(paths.logDir, 'ambit-system', `${component}-${node ?? ''}`, `${component}.log`);
  } else {
    try {
      file = join(paths.logDir, 'ambit-system', componentPod(paths, component, node), `${PODS[component].container}.log`);
    } catch {
      return '';
    }
  }
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The component's process id: the runner's pid file, or the process in the pod's network namespace (the node's, for
 * the hostNetwork DaemonSets) whose command line runs the component.
 */
export function componentPid(paths: ClusterPaths, component: MeshComponent, node?: string): number {
  if (installMode(paths) === 'runner') {
    const file =
      component === 'controller'
        ? join(paths.stateDir, 'controller', 'controller.pid')
        : component === 'ztunnel'
          ? nodeComponentPaths(paths.stateDir, node ?? '').ztunnelPid
          : nodeComponentPaths(paths.stateDir, node ?? '').agentPid;
    return Number(readFileSync(file, 'utf8').trim());
  }
  // The controller's pod has its own namespace (pod-ambit-system-…); the DaemonSets run in their node's.
  const namespaces =
    component === 'controller'
      ? readdirSync('/run/netns').filter((n) => n.startsWith(`${paths.prefix}pod-ambit-system-`))
      : [`${paths.prefix}${node ?? ''}`];
  const pids = namespaces.flatMap((netns) =>
    execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8', timeout: 10_000 })
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number),
  );
  const want = PODS[component].argv;
  const found = pids.filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      // The image's entrypoint is a shell that execs node: only node itself carries the component's file.
      return argv.some((a) => a.endsWith(want) || a.endsWith(`${want}.mjs`)) && argv.some((a) => a.endsWith('node') || a === 'node');
    } catch {
      return false; // gone since the listing
    }
  });
  const pid = found[0];
  if (pid === undefined || found.length > 1)
    throw new Error(`${component} in [${namespaces.join(', ')}]: found pids [${found.join(', ')}], want one`);
  return pid;
}
