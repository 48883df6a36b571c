// The node agent's command line, parsed into AgentOptions (kept apart from main.ts so tests can parse without
// starting an agent), and the kubeconfig it names loaded.
import { fileURLToPath } from 'node:url';
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
  --exclude-namespaces  never captured; default kube-system,ambit-system
CNI install (istio-cni's install-cni; cni/README.md "Install on a node"):
  --install-cni         copy ambit-cni into --cni-bin-dir and chain it into the primary network of --cni-conf-dir, keep
                        it there while running; and when this agent's DaemonSet is being deleted (read on SIGTERM),
                        release every captured pod and remove what was installed
  --cni-bin-dir         default /host/opt/cni/bin (the node's /opt/cni/bin, mounted)
  --cni-conf-dir        default /host/etc/cni/net.d (the node's /etc/cni/net.d, mounted)
  --host-cni-conf-dir   --cni-conf-dir as the node's runtime sees it; default /etc/cni/net.d
  --host-cni-socket     --cni-socket as the node's runtime sees it; default the same path
  --cni-plugin-dir      where the built ambit-cni and ambit-cni-node are; default this release's cni/bin
  --ready-file          written once the agent serves (with --install-cni: once ambit-cni is chained, as istio-cni's
                        readiness), removed when it stops; the DaemonSet's readiness probe tests it`;
/** The plugin built in this release (cni/scripts/build-plugin.mjs writes cni/bin; the image copies it there too). */
const DEFAULT_PLUGIN_DIR = fileURLToPath(new URL('../../bin', import.meta.url));
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The CNI install side's flags (`--install-cni`); paths absolute. */
export interface CniInstallFlags {
  readonly binDir: string;
  readonly confDir: string;
  readonly hostConfDir: string;
  readonly hostSocket: string;
  readonly pluginDir: string;
}

export interface AgentFlags {
  readonly options: Omit<AgentOptions, 'log' | 'kubeConfig'>;
  /** Present with `--install-cni`. */
  readonly cniInstall?: CniInstallFlags;
  /** `--kubeconfig`, when given. */
  readonly kubeconfig?: string;
  /** `--ready-file`, when given. */
  readonly readyFile?: string;
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
      'install-cni': { type: 'boolean', default: false },
      'cni-bin-dir': { type: 'string', default: '/host/opt/cni/bin' },
      'cni-conf-dir': { type: 'string', default: '/host/etc/cni/net.d' },
      'host-cni-conf-dir': { type: 'string', default: '/etc/cni/net.d' },
      'host-cni-socket': { type: 'string' },
      'cni-plugin-dir': { type: 'string', default: DEFAULT_PLUGIN_DIR },
      'ready-file': { type: 'string' },
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
  const node = required('node');
  const cniSocket = required('cni-socket');
  const cniInstall: CniInstallFlags | undefined = values['install-cni']
    ? {
        binDir: absolute('cni-bin-dir', values['cni-bin-dir']),
        confDir: absolute('cni-conf-dir', values['cni-conf-dir']),
        hostConfDir: absolute('host-cni-conf-dir', values['host-cni-conf-dir']),
        hostSocket: absolute('host-cni-socket', values['host-cni-socket'] ?? cniSocket),
        pluginDir: absolute('cni-plugin-dir', values['cni-plugin-dir']),
      }
    : undefined;
  return {
    ...(cniInstall === undefined ? {} : { cniInstall }),
    options: {
      node,
      cniSocket,
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
    ...(values['ready-file'] === undefined ? {} : { readyFile: absolute('ready-file', values['ready-file']) }),
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
