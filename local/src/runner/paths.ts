import { join } from 'node:path';
import { AmbitError } from '@ambit/core';

/** Where a local cluster keeps its state, shared by the runner and `ambitctl`. */
export interface ClusterPaths {
  readonly name: string;
  /** Prefix of every network namespace of this cluster: leftovers are found by it. */
  readonly prefix: string;
  readonly stateDir: string;
  readonly runnerPid: string;
  /** JSON written by the runner: `{ state: 'starting'|'ready'|'failed', … }`. */
  readonly runnerInfo: string;
  readonly runnerLog: string;
  readonly kubeconfig: string;
  /** The API's trusted unix socket (no token; ambitctl). */
  readonly apiSocket: string;
  /** The API's unix socket that speaks TLS + token, which each node's API forwarder joins to its 127.0.0.1 port. */
  readonly apiTlsSocket: string;
  readonly logDir: string;
}

/** The marker in a runner's command line: with the cluster name it identifies a runner left from a killed run. */
export const RUNNER_MARKER = 'ambit-local-runner';

/** Default state root: on tmpfs, since network namespaces do not survive a reboot either. */
export const DEFAULT_STATE_ROOT = '/run/ambit';

const NAME = /^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/;

export function clusterPaths(name: string, stateRoot = DEFAULT_STATE_ROOT): ClusterPaths {
  if (!NAME.test(name)) throw new AmbitError('BAD_CLUSTER_NAME', `cluster name "${name}" must be 1-16 lower-case letters, digits or '-'`);
  const stateDir = join(stateRoot, name);
  return {
    name,
    prefix: `ambit-${name}-`,
    stateDir,
    runnerPid: join(stateDir, 'runner.pid'),
    runnerInfo: join(stateDir, 'runner.json'),
    runnerLog: join(stateRoot, `${name}.runner.log`),
    kubeconfig: join(stateDir, 'kubeconfig'),
    apiSocket: join(stateDir, 'api.sock'),
    apiTlsSocket: join(stateDir, 'api-tls.sock'),
    logDir: join(stateDir, 'logs'),
  };
}

export interface RunnerInfo {
  readonly state: 'starting' | 'ready' | 'failed' | 'stopping';
  readonly pid: number;
  readonly error?: string;
  readonly apiUrl?: string;
  readonly configDir?: string;
  readonly nodes?: ReadonlyArray<{ name: string; ip: string; podCidr: string; netns: string }>;
}
