import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '@ambit/core';
import type { NodeNet } from '../net/topology.ts';
import { startContainer, type ContainerHandle } from '../proc/supervisor.ts';
import { bundledCommand, WAYPOINT_BUNDLE, WAYPOINT_NODE_FLAGS } from './bundles.ts';

export interface ControllerPaths {
  readonly dir: string;
  /** The running controller's pid, so cleanup after a killed runner can stop it (cleanup.ts HOST_PROCESS_PID_FILES). */
  readonly pidFile: string;
  /** gRPC (xDS + CA) for proxies and node agents inside the cluster: unix sockets cross network namespaces. */
  readonly xdsSocket: string;
  readonly debugSocket: string;
  readonly caDir: string;
  /** `{ "<token>": "<node>" }`: the per-node credentials the CA accepts in local mode. */
  readonly nodeCredentials: string;
}

export function controllerPaths(stateDir: string): ControllerPaths {
  const dir = join(stateDir, 'controller');
  return {
    dir,
    pidFile: join(dir, 'controller.pid'),
    xdsSocket: join(dir, 'xds.sock'),
    debugSocket: join(dir, 'debug.sock'),
    caDir: join(dir, 'ca'),
    nodeCredentials: join(dir, 'node-credentials.json'),
  };
}

/** Where node N's ztunnel/agent finds its CA credential (DESIGN §5: a per-node credential in local mode). */
export function nodeCredentialPath(stateDir: string, node: string): string {
  return join(stateDir, 'nodes', node, 'ca-token');
}

/**
 * Issues one random credential per node: the file the node's components read, and the map the controller checks
 * callers against. Both 0600 under the root-only state dir.
 */
export function writeNodeCredentials(stateDir: string, nodes: readonly NodeNet[], paths: ControllerPaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const map: Record<string, string> = {};
  for (const n of nodes) {
    const token = randomBytes(24).toString('base64url');
    map[token] = n.name;
    const file = nodeCredentialPath(stateDir, n.name);
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(file, token, { mode: 0o600 });
  }
  writeFileSync(paths.nodeCredentials, JSON.stringify(map), { mode: 0o600 });
}

/**
 * The argv a local waypoint pod runs: this checkout's waypoint on this Node, from its bundle
 * (scripts/build-bundle.mjs) when that is current, else from source with tsx (resolved from the repo root).
 * Decided once, when the controller starts. `AMBIT_WAYPOINT_NODE_OPTIONS` adds Node flags (e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof`).
 */
export function waypointCommand(repoRoot: string, log?: Logger): string[] {
  const extra = (process.env['AMBIT_WAYPOINT_NODE_OPTIONS'] ?? '').split(/\s+/).filter((x) => x.length > 0);
  return bundledCommand(repoRoot, WAYPOINT_BUNDLE, [...WAYPOINT_NODE_FLAGS, ...extra], (reason) =>
    log?.warn({ reason }, 'waypoint pods run the waypoint from source (scripts/ensure-deps.sh rebuilds the bundle)'),
  );
}

export interface StartControllerOptions {
  readonly repoRoot: string;
  readonly kubeconfig: string;
  readonly paths: ControllerPaths;
  readonly logFile: string;
  readonly log: Logger;
  /** JSON argv waypoint pods run instead of `waypointCommand(repoRoot)`; the controller checks it. */
  readonly waypointCommand?: string;
}

/**
 * The controller runs as a host-side process of the cluster (like a control-plane static pod): it reads the API
 * through the kubeconfig on 127.0.0.1 and serves proxies on unix sockets only. The supervisor restarts it if it
 * dies; its CA root persists in `caDir`, so a restart keeps the mesh's trust.
 */
export function startControllerProcess(opts: StartControllerOptions): ContainerHandle {
  const { paths } = opts;
  const handle: ContainerHandle = startContainer({
    netns: undefined,
    name: 'ambit-system/controller',
    command: [
      process.execPath,
      '--import',
      'tsx',
      join(opts.repoRoot, 'controller', 'src', 'main.ts'),
      ...['--kubeconfig', opts.kubeconfig],
      ...['--xds-socket', paths.xdsSocket, '--debug-socket', paths.debugSocket],
      ...['--ca-dir', paths.caDir, '--node-credentials', paths.nodeCredentials],
      // Waypoint pods run the waypoint of this checkout, as the other components do (contract 3).
      ...['--waypoint-command', opts.waypointCommand ?? JSON.stringify(waypointCommand(opts.repoRoot, opts.log))],
      '--exit-with-parent',
    ],
    env: { AMBIT_LOG_LEVEL: process.env['AMBIT_LOG_LEVEL'] ?? 'info' },
    cwd: opts.repoRoot,
    logFile: opts.logFile,
    restartPolicy: 'Always',
    log: opts.log,
    onState: (state) => {
      const pid = state.phase === 'running' ? handle.pid() : undefined;
      if (pid !== undefined) writeFileSync(paths.pidFile, String(pid), { mode: 0o600 });
    },
  });
  return handle;
}

/** True when the controller answers 200 on /ready (informers synced, CA loaded). */
export function controllerReady(debugSocket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: debugSocket, path: '/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
