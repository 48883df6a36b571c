// The node agent's command line, parsed into AgentOptions (kept apart from main.ts so tests can parse without
// starting an agent), and the kubeconfig it names loaded.
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { AmbitError, errorMessage } from '@ambit/core';
import type { AgentOptions } from './agent.ts';

export const USAGE = `usage: main.ts --node NAME --cni-socket PATH --ztunnel-socket PATH --state-file PATH [--kubeconfig PATH]
                [--log-level fatal|error|warn|info|debug|trace] [--exclude-namespaces NS,NS]
  --node                this node's name (its pods are watched; ztunnel's hello must name it)
  --cni-socket          unix socket served for the CNI plugin (its agentSocket)
  --ztunnel-socket      unix socket served for ztunnel (ZDS)
  --state-file          JSON of the enrolled pods
  --kubeconfig          the API server and credentials; without it: in-cluster (the pod's service account) when
                        KUBERNETES_SERVICE_HOST is set, else KUBECONFIG or ~/.kube/config
  --log-level           default info
  --exclude-namespaces  never captured; default kube-system,ambit-system`;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface AgentFlags {
  readonly options: Omit<AgentOptions, 'log' | 'kubeConfig'>;
  /** `--kubeconfig`, when given. */
  readonly kubeconfig?: string;
  readonly logLevel: string;
}

/** Parses argv (without node and script); throws AmbitError `BAD_ARGS` with a message a user can act on. */
export function parseAgentFlags(argv: readonly string[]): AgentFlags {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      node: { type: 'string' },
      kubeconfig: { type: 'string' },
      'cni-socket': { type: 'string' },
      'ztunnel-socket': { type: 'string' },
      'state-file': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'exclude-namespaces': { type: 'string' },
    },
  });
  const absolute = (flag: string, v: string): string => {
    if (!v.startsWith('/')) throw new AmbitError('BAD_ARGS', `--${flag} must be an absolute path, got ${JSON.stringify(v)}`);
    return v;
  };
  const required = (flag: 'node' | 'cni-socket' | 'ztunnel-socket' | 'state-file'): string => {
    const v = values[flag];
    if (v === undefined || v === '') throw new AmbitError('BAD_ARGS', `--${flag} is required`);
    return flag === 'node' ? v : absolute(flag, v);
  };
  const logLevel = values['log-level'];
  if (!LEVELS.includes(logLevel))
    throw new AmbitError('BAD_ARGS', `--log-level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const exclude = values['exclude-namespaces'];
  const kubeconfig = values.kubeconfig;
  return {
    options: {
      node: required('node'),
      cniSocket: required('cni-socket'),
      ztunnelSocket: required('ztunnel-socket'),
      stateFile: required('state-file'),
      ...(exclude === undefined
        ? {}
        : {
            excludeNamespaces: exclude
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== ''),
          }),
    },
    ...(kubeconfig === undefined ? {} : { kubeconfig: absolute('kubeconfig', kubeconfig) }),
    logLevel,
  };
}

/** The kubeconfig could not be loaded: a start-up error. */
export class KubeconfigLoadError extends AmbitError {
  constructor(message: string, cause?: unknown) {
    super('KUBECONFIG_UNREADABLE', message, { cause });
  }
}

/**
 * Where the agent reads the API: the `--kubeconfig` file; else, inside a cluster (`inCluster`: KUBERNETES_SERVICE_HOST
 * is set), the pod's service account; else client-node's default search (KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(kubeconfig: string | undefined, inCluster: boolean): KubeConfig {
  const kc = new KubeConfig();
  const source = kubeconfig ?? (inCluster ? 'the in-cluster service account' : 'the default kubeconfig (KUBECONFIG, ~/.kube/config)');
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else if (inCluster) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new KubeconfigLoadError(`cannot load ${source}: ${errorMessage(err)}`, err);
  }
  if (kc.getCurrentCluster() === null) throw new KubeconfigLoadError(`${source} names no current cluster`);
  return kc;
}
