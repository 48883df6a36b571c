import { join } from 'node:path';
import type { Logger } from '@ambit/core';
import { startContainer, type ContainerHandle, type ContainerState } from '../proc/supervisor.ts';

/**
 * Where each node reaches the API server: 127.0.0.1 of the node's own namespace, the port a real API server listens
 * on. Every node namespace has its own loopback, so all nodes use the same port. The same port on the node's
 * underlay address is the `default/kubernetes` Service's endpoint (cluster/kubernetes-service.ts).
 */
export const NODE_API_PORT = 6443;

/** What a node needs to reach the API server: its TLS unix socket, and the certificate and token clients check. */
export interface NodeApiAccess {
  readonly clusterName: string;
  readonly tlsSocket: string;
  readonly caCertPem: string;
  readonly token: string;
}

export interface NodeApiForwarderOptions {
  readonly repoRoot: string;
  /** The node's network namespace: the forwarder's listening sockets are created there, by the process itself. */
  readonly netns: string;
  /** The node's underlay address: pods (and other nodes) reach the API there, through the kubernetes Service. */
  readonly nodeIp: string;
  readonly name: string;
  /** The API server's TLS unix socket (ApiServerOptions.tlsSocketPath). */
  readonly tlsSocket: string;
  readonly logFile: string;
  readonly log: Logger;
  readonly onState?: (state: ContainerState) => void;
}

const RESTART_BACKOFF = { initialMs: 100, maxMs: 5000 };

/**
 * The node's API endpoint: node-api-forwarder.ts on 127.0.0.1:NODE_API_PORT and NODE_IP:NODE_API_PORT inside
 * `netns`, joined to the API's TLS unix socket, supervised and restarted like a node's system processes. It is part of
 * the node (as a real node's route to its API server is), not a pod. Plain node runs it: it imports only node:
 * modules, so type stripping needs no tsx loader.
 */
export function startNodeApiForwarder(opts: NodeApiForwarderOptions): ContainerHandle {
  return startContainer({
    netns: opts.netns,
    name: opts.name,
    command: [
      process.execPath,
      join(opts.repoRoot, 'local/src/runner/node-api-forwarder.ts'),
      ...['--listen', `127.0.0.1:${NODE_API_PORT}`],
      ...['--listen', `${opts.nodeIp}:${NODE_API_PORT}`],
      ...['--to', opts.tlsSocket],
    ],
    env: {},
    cwd: opts.repoRoot,
    logFile: opts.logFile,
    restartPolicy: 'Always',
    backoff: RESTART_BACKOFF,
    log: opts.log,
    ...(opts.onState === undefined ? {} : { onState: opts.onState }),
  });
}
