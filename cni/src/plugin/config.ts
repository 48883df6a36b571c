import { isRecord } from '@ambit/core/fields';
import { CniCode, CniPluginError } from './cni-error.ts';

/** The CNI versions this plugin speaks; it adds no interfaces, so every result shape since 0.3.0 passes through. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export const PLUGIN_CNI_VERSION = '1.0.0';

export const DEFAULT_EXCLUDE_NAMESPACES: readonly string[] = ['kube-system', 'ambit-system'];
/** Default bound on the whole ADD (API look-ups plus the agent's answer), in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export type CniCommandName = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

/** The CNI_* environment of one invocation (spec "Parameters"), validated. */
export interface CniEnv {
  readonly command: CniCommandName;
  /** Empty for VERSION, GC and STATUS. */
  readonly containerId: string;
  /** Path of the container's network namespace; may be empty on DEL (the namespace may already be gone). */
  readonly netns: string;
  readonly ifName: string;
  readonly args: CniArgs;
}

/** The Kubernetes keys of CNI_ARGS (https://github.com/containernetworking/cni/blob/main/CONVENTIONS.md). */
export interface CniArgs {
  readonly podNamespace?: string;
  readonly podName?: string;
  readonly podUid?: string;
}

/** The plugin's entry in the conflist, after the runtime injected `name`, `cniVersion` and `prevResult`. */
export interface PluginConfig {
  readonly cniVersion: string;
  readonly name: string;
  /** Unix socket of the node agent. */
  readonly agentSocket: string;
  /**
   * Kubeconfig the Node executable reads pods and namespaces with (as istio-cni's `kubeconfig`); without it the agent
   * decides membership. The agent, running the plugin logic itself, answers from its own view of the API instead.
   */
  readonly kubeconfig?: string;
  readonly excludeNamespaces: readonly string[];
  /** Bound on the whole ADD, milliseconds; default 10 000. */
  readonly timeoutMs: number;
  /** The previous plugin's result, exactly as received. */
  readonly prevResult?: Readonly<Record<string, unknown>>;
}

/** Reads the CNI_* variables; anything missing or malformed that the command needs is code 4 (spec). */
export function parseCniEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = env['CNI_COMMAND'];
  if (command === undefined || command === '') throw new CniPluginError(CniCode.INVALID_ENV, 'CNI_COMMAND is not set');
  if (!COMMANDS.includes(command)) {
    throw new CniPluginError(CniCode.INVALID_ENV, `unknown CNI_COMMAND "${command}"`, `expected one of ${COMMANDS.join(', ')}`);
  }
  const name = command as CniCommandName;
  const containerId = env['CNI_CONTAINERID'] ?? '';
  const netns = env['CNI_NETNS'] ?? '';
  const ifName = env['CNI_IFNAME'] ?? '';
  if (name === 'ADD' || name === 'DEL' || name === 'CHECK') {
    if (containerId === '') throw new CniPluginError(CniCode.INVALID_ENV, `CNI_CONTAINERID is not set (required for ${name})`);
    if (ifName === '') throw new CniPluginError(CniCode.INVALID_ENV, `CNI_IFNAME is not set (required for ${name})`);
    // Spec: DEL may come without a namespace (the sandbox is already gone); ADD and CHECK need one.
    if (netns === '' && name !== 'DEL') throw new CniPluginError(CniCode.INVALID_ENV, `CNI_NETNS is not set (required for ${name})`);
  }
  return { command: name, containerId, netns, ifName, args: parseCniArgs(env['CNI_ARGS'] ?? '') };
}

/** `K=V;K=V`; unknown keys are ignored (the runtime passes IgnoreUnknown=1 and keys for other plugins). */
export function parseCniArgs(text: string): CniArgs {
  const out: { podNamespace?: string; podName?: string; podUid?: string } = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniPluginError(CniCode.INVALID_ENV, `CNI_ARGS entry "${pair}" is not KEY=VALUE`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (value === '') continue;
    if (key === 'K8S_POD_NAMESPACE') out.podNamespace = value;
    else if (key === 'K8S_POD_NAME') out.podName = value;
    else if (key === 'K8S_POD_UID') out.podUid = value;
  }
  return out;
}

/**
 * Parses stdin. Not JSON (or not an object) is code 6, a field of the wrong type or value is code 7, a cniVersion
 * this plugin does not speak is code 1 (spec "Error"). VERSION only needs `cniVersion`, and tolerates an empty stdin.
 */
export function parseStdin(text: string, command: CniCommandName): PluginConfig | undefined {
  if (command === 'VERSION' && text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const what = text.trim() === '' ? 'stdin is empty' : 'stdin is not valid JSON';
    throw new CniPluginError(CniCode.DECODING_FAILURE, `cannot decode network configuration: ${what}`, detail, err);
  }
  if (!isRecord(json))
    throw new CniPluginError(CniCode.DECODING_FAILURE, 'cannot decode network configuration: stdin is not a JSON object');
  if (command === 'VERSION') return undefined;
  return parsePluginConfig(json);
}

export function parsePluginConfig(x: Readonly<Record<string, unknown>>): PluginConfig {
  const bad = (field: string, why: string): CniPluginError =>
    new CniPluginError(CniCode.INVALID_NETWORK_CONFIG, `invalid network configuration: "${field}" ${why}`);
  const { cniVersion, name, type, agentSocket, kubeconfig, excludeNamespaces, timeoutMs, prevResult } = x;
  if (typeof cniVersion !== 'string' || cniVersion === '') throw bad('cniVersion', 'must be a non-empty string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniPluginError(
      CniCode.INCOMPATIBLE_VERSION,
      `incompatible CNI version ${cniVersion}`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (typeof name !== 'string' || name === '') throw bad('name', 'must be a non-empty string');
  if (type !== 'ambit-cni') throw bad('type', `must be "ambit-cni", got ${JSON.stringify(type)}`);
  if (typeof agentSocket !== 'string' || !agentSocket.startsWith('/')) throw bad('agentSocket', 'must be an absolute unix socket path');
  if (kubeconfig !== undefined && (typeof kubeconfig !== 'string' || !kubeconfig.startsWith('/'))) {
    throw bad('kubeconfig', 'must be an absolute path of a kubeconfig file when set');
  }
  if (excludeNamespaces !== undefined && (!Array.isArray(excludeNamespaces) || !excludeNamespaces.every((n) => typeof n === 'string'))) {
    throw bad('excludeNamespaces', 'must be an array of namespace names');
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 600_000)) {
    throw bad('timeoutMs', 'must be an integer number of milliseconds in 1…600000');
  }
  if (prevResult !== undefined && !isRecord(prevResult)) throw bad('prevResult', 'must be an object');
  return {
    cniVersion,
    name,
    agentSocket,
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    excludeNamespaces: (excludeNamespaces as string[] | undefined) ?? DEFAULT_EXCLUDE_NAMESPACES,
    timeoutMs: timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(prevResult === undefined ? {} : { prevResult }),
  };
}
