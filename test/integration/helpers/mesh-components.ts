import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterPaths } from '@ambit/local';

// Where a local cluster's Ambit components log and which process each is: the pods of deploy/overlays/local (the
// controller Deployment, the ztunnel and node-agent DaemonSets), however they were applied.

export type MeshComponent = 'ztunnel' | 'node-agent' | 'controller';

/** The pod's `app` label and its container, per component (deploy/). */
const PODS: Record<MeshComponent, { readonly app: string; readonly container: string; readonly argv: string }> = {
  ztunnel: { app: 'ztunnel', container: 'ztunnel', argv: 'ztunnel' },
  'node-agent': { app: 'ambit-node-agent', container: 'node-agent', argv: 'node-agent' },
  controller: { app: 'ambit-controller', container: 'controller', argv: 'controller' },
};

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; containerStatuses?: { restartCount?: number; state?: object; lastState?: object }[] };
}

function componentPods(paths: ClusterPaths, component: MeshComponent): PodJson[] {
  const out = execFileSync(
    'kubectl',
    ['--kubeconfig', paths.kubeconfig, 'get', 'pods', '-n', 'ambit-system', '-l', `app=${PODS[component].app}`, '-o', 'json'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return (JSON.parse(out) as { items: PodJson[] }).items;
}

/** The running pod of `component` (on `node` for the DaemonSets), read with kubectl as an operator would. */
export function componentPod(paths: ClusterPaths, component: MeshComponent, node?: string): string {
  const items = componentPods(paths, component).filter(
    (p) => p.metadata.deletionTimestamp === undefined && p.status.phase === 'Running' && (node === undefined || p.spec.nodeName === node),
  );
  const pod = items[0];
  if (pod === undefined) throw new Error(`no running ${component} pod${node === undefined ? '' : ` on ${node}`}`);
  return pod.metadata.name;
}

/** The log of the component's running pod (empty when it has none yet). */
export function componentLog(paths: ClusterPaths, component: MeshComponent, node?: string): string {
  let file: string;
  try {
    file = join(paths.logDir, 'ambit-system', componentPod(paths, component, node), `${PODS[component].container}.log`);
  } catch {
    return '';
  }
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The component's process id: the process in the pod's network namespace (the node's, for the hostNetwork
 * DaemonSets) whose command line runs the component.
 */
export function componentPid(paths: ClusterPaths, component: MeshComponent, node?: string): number {
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
    throw new Error(
      `${component} in [${namespaces.join(', ')}]: found pids [${found.join(', ')}], want one\n${componentDiagnosis(paths, component, node)}`,
    );
  return pid;
}

/** What a failed lookup reports: each pod of the component with its containers' states, and the running one's last log lines. */
function componentDiagnosis(paths: ClusterPaths, component: MeshComponent, node?: string): string {
  try {
    const pods = componentPods(paths, component)
      .filter((p) => node === undefined || p.spec.nodeName === node)
      .map((p) => {
        const deleting = p.metadata.deletionTimestamp === undefined ? '' : ' (deleting)';
        return `  pod ${p.metadata.name}${deleting}: ${p.status.phase ?? '?'} ${JSON.stringify(p.status.containerStatuses ?? [])}`;
      });
    const log = componentLog(paths, component, node).trimEnd().split('\n').slice(-15).join('\n    ');
    return `${pods.join('\n')}\n  last log lines:\n    ${log}`;
  } catch (err) {
    return `  (no pod state: ${err instanceof Error ? err.message : String(err)})`;
  }
}
