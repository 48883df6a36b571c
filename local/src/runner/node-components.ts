import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, type Logger } from '@ambit/core';
import type { NodeNet } from '../net/topology.ts';
import { startContainer, type ContainerHandle, type ContainerState } from '../proc/supervisor.ts';
import { nodeCredentialPath } from './controller-process.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { bundledCommand, ZTUNNEL_BUNDLE, ZTUNNEL_NODE_FLAGS } from './bundles.ts';
import { NODE_API_PORT, startNodeApiForwarder, type NodeApiAccess } from './node-api.ts';
import { surgeReplace, type SurgeReplaceResult } from './ztunnel-rollout.ts';

/** Where one node's mesh components keep their sockets and state (`<stateDir>/nodes/<node>/`). */
export interface NodeComponentPaths {
  readonly dir: string;
  /** The node agent's socket for the CNI plugin (`agentSocket` in the conflist). */
  readonly cniSocket: string;
  /** The node agent's ZDS socket, which ztunnel connects to. */
  readonly zdsSocket: string;
  readonly agentState: string;
  /**
   * The node's kubeconfig: `https://127.0.0.1:NODE_API_PORT` (the node's API forwarder), the API's certificate and
   * token. The node agent and the CNI plugin (both in the node's namespace) read the API with it.
   */
  readonly kubeconfig: string;
  /** Pid files of the running processes, for operators and tests (e.g. to restart a ztunnel). */
  readonly agentPid: string;
  readonly ztunnelPid: string;
  readonly apiForwarderPid: string;
}

export function nodeComponentPaths(stateDir: string, node: string): NodeComponentPaths {
  const dir = join(stateDir, 'nodes', node);
  return {
    dir,
    cniSocket: join(dir, 'agent.sock'),
    zdsSocket: join(dir, 'ztunnel.sock'),
    agentState: join(dir, 'agent-state.json'),
    kubeconfig: join(dir, 'kubeconfig'),
    agentPid: join(dir, 'node-agent.pid'),
    ztunnelPid: join(dir, 'ztunnel.pid'),
    apiForwarderPid: join(dir, 'api-forwarder.pid'),
  };
}

/**
 * The `ambit-cni` entry chained after `bridge` in a node's conflist (cni/README.md "Config"). The kubelet runs CNI
 * plugins inside the node's namespace (net/cni.ts), where the node's kubeconfig reaches the API.
 */
export function ambitCniPlugin(stateDir: string, node: string): Record<string, unknown> {
  const paths = nodeComponentPaths(stateDir, node);
  return { type: 'ambit-cni', agentSocket: paths.cniSocket, kubeconfig: paths.kubeconfig };
}

export interface NodeComponentsOptions {
  readonly repoRoot: string;
  readonly stateDir: string;
  readonly api: NodeApiAccess;
  readonly xdsSocket: string;
  readonly node: NodeNet;
  readonly logDir: string;
  readonly log: Logger;
  /** Workload certificate lifetime ztunnel asks for (tests shorten it); default the ztunnel's. */
  readonly certTtlSeconds?: number;
}

export interface NodeComponents {
  readonly apiForwarder: ContainerHandle;
  readonly agent: ContainerHandle;
  /** The ztunnel that serves the node: the newest one after replaceZtunnel. */
  ztunnel(): ContainerHandle;
  /** Every ztunnel started on the node (stopping one already stopped is a no-op): what teardown stops. */
  ztunnels(): ContainerHandle[];
  /**
   * Replaces the node's ztunnel as its DaemonSet's rolling update does (`maxSurge: 1, maxUnavailable: 0`, see
   * ztunnel-rollout.ts): the new one starts next to the old, and the old gets SIGTERM once the new one is ready.
   * Resolves once the old one has exited. One replacement at a time per node.
   */
  replaceZtunnel(): Promise<SurgeReplaceResult>;
}

/** ztunnel's `--drain-seconds` in local mode: how long a stopped ztunnel keeps serving its open connections. */
export const ZTUNNEL_DRAIN_SECONDS = 2;
/** The grace before SIGKILL, above the drain (the DaemonSet's terminationGracePeriodSeconds is above it too). */
const ZTUNNEL_TERMINATION_GRACE_MS = (ZTUNNEL_DRAIN_SECONDS + 3) * 1000;

const RESTART_BACKOFF = { initialMs: 100, maxMs: 5000 };

function tsx(repoRoot: string, entry: string): string[] {
  return [process.execPath, '--import', 'tsx', join(repoRoot, entry)];
}

/**
 * How ztunnel is started: the bundle (scripts/build-bundle.mjs; plain node, ~45 MB less RSS than tsx) when it
 * is newer than every source it was built from, else from source. `AMBIT_ZTUNNEL_NODE_OPTIONS` adds Node flags (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the data path).
 */
function ztunnelCommand(repoRoot: string, log: Logger): string[] {
  const extra = (process.env['AMBIT_ZTUNNEL_NODE_OPTIONS'] ?? '').split(/\s+/).filter((x) => x.length > 0);
  return bundledCommand(repoRoot, ZTUNNEL_BUNDLE, [...ZTUNNEL_NODE_FLAGS, ...extra], (reason) =>
    log.warn({ reason }, 'running ztunnel from source (scripts/ensure-deps.sh rebuilds the bundle)'),
  );
}

/**
 * A node's mesh DaemonSet pods as processes inside the node's network namespace (hostNetwork, as in a cluster): the
 * node agent, which the CNI plugin calls and which captures pods, and the ztunnel, which serves them; plus the node's
 * API endpoint, a forwarder from 127.0.0.1:NODE_API_PORT to the API server's TLS unix socket, started inside the
 * namespace so that its socket belongs there. The agent reads the API with the node's kubeconfig through it (TLS and
 * token, as in a cluster); ztunnel reaches the controller through a unix socket. The supervisor restarts each when
 * it dies.
 */
export function startNodeComponents(opts: NodeComponentsOptions): NodeComponents {
  const paths = nodeComponentPaths(opts.stateDir, opts.node.name);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const logs = (name: string): string => join(opts.logDir, 'ambit-system', `${name}-${opts.node.name}`, `${name}.log`);
  const env = { AMBIT_LOG_LEVEL: process.env['AMBIT_LOG_LEVEL'] ?? 'info' };
  const pidFile =
    (file: string, handle: () => ContainerHandle) =>
    (state: ContainerState): void => {
      const pid = state.phase === 'running' ? handle().pid() : undefined;
      if (pid !== undefined) writeFileSync(file, String(pid), { mode: 0o600 });
    };
  writeKubeconfig(paths.kubeconfig, opts.api.clusterName, `https://127.0.0.1:${NODE_API_PORT}`, opts.api.token, opts.api.caCertPem);
  const apiForwarder: ContainerHandle = startNodeApiForwarder({
    repoRoot: opts.repoRoot,
    netns: opts.node.netns,
    nodeIp: opts.node.ip,
    name: `ambit-system/api-forwarder-${opts.node.name}`,
    tlsSocket: opts.api.tlsSocket,
    logFile: logs('api-forwarder'),
    log: opts.log,
    onState: pidFile(paths.apiForwarderPid, () => apiForwarder),
  });
  const agent: ContainerHandle = startContainer({
    netns: opts.node.netns,
    name: `ambit-system/node-agent-${opts.node.name}`,
    command: [
      ...tsx(opts.repoRoot, 'cni/src/agent/main.ts'),
      ...['--node', opts.node.name, '--kubeconfig', paths.kubeconfig],
      ...['--cni-socket', paths.cniSocket, '--ztunnel-socket', paths.zdsSocket, '--state-file', paths.agentState],
    ],
    env,
    cwd: opts.repoRoot,
    logFile: logs('node-agent'),
    restartPolicy: 'Always',
    // A DaemonSet pod is replaced at once; pods on the node wait on these two.
    backoff: RESTART_BACKOFF,
    log: opts.log,
    onState: pidFile(paths.agentPid, () => agent),
  });
  // The ztunnel that serves the node; a surge one takes over once ready (replaceZtunnel).
  let serving: ContainerHandle | undefined;
  const started: ContainerHandle[] = [];
  const startZtunnel = (): ContainerHandle => {
    let handle: ContainerHandle | undefined = undefined;
    handle = startContainer({
      netns: opts.node.netns,
      name: `ambit-system/ztunnel-${opts.node.name}`,
      command: [
        ...ztunnelCommand(opts.repoRoot, opts.log),
        ...['--node', opts.node.name, '--controller', `unix:${opts.xdsSocket}`],
        ...['--token-file', nodeCredentialPath(opts.stateDir, opts.node.name), '--agent-socket', paths.zdsSocket],
        ...(opts.certTtlSeconds === undefined ? [] : ['--cert-ttl', String(opts.certTtlSeconds)]),
        ...['--drain-seconds', String(ZTUNNEL_DRAIN_SECONDS)],
      ],
      env,
      cwd: opts.repoRoot,
      logFile: logs('ztunnel'),
      restartPolicy: 'Always',
      backoff: RESTART_BACKOFF,
      log: opts.log,
      // Only the serving ztunnel writes the pid file: a draining one that restarts must not take it back.
      onState: (state) => {
        // Only the serving ztunnel writes the pid file: a surge one before it took over, or a draining one, must not.
        const self = handle;
        if (self !== undefined && self === serving) pidFile(paths.ztunnelPid, () => self)(state);
      },
    });
    started.push(handle);
    return handle;
  };
  serving = startZtunnel();
  const servingNow = (): ContainerHandle => {
    assert(serving !== undefined, 'BUG: no ztunnel handle');
    return serving;
  };
  let replacing: Promise<SurgeReplaceResult> | undefined;
  return {
    apiForwarder,
    agent,
    ztunnel: servingNow,
    ztunnels: () => [...started],
    replaceZtunnel() {
      if (replacing !== undefined)
        return Promise.reject(new AmbitError('ZTUNNEL_REPLACE_IN_PROGRESS', `ztunnel on ${opts.node.name} is being replaced`));
      replacing = surgeReplace({
        old: servingNow(),
        start: startZtunnel,
        logFile: logs('ztunnel'),
        readyTimeoutMs: 30_000,
        terminationGraceMs: ZTUNNEL_TERMINATION_GRACE_MS,
        // The new one serves from the moment it is ready, before the old one has drained.
        onReady: (next) => {
          serving = next;
          const pid = next.pid();
          if (pid !== undefined) writeFileSync(paths.ztunnelPid, String(pid), { mode: 0o600 });
        },
      }).finally(() => (replacing = undefined));
      return replacing;
    },
  };
}
