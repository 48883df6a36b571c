import { isRecord } from '@ambit/core/fields';
import { CniCode, CniPluginError, toErrorJson } from './cni-error.ts';
import { parseCniEnv, parseStdin, PLUGIN_CNI_VERSION, SUPPORTED_VERSIONS, type CniEnv, type PluginConfig } from './config.ts';
import { agentAdd, agentDel } from './agent-client.ts';
import { lookUpMembership, type MembershipLookup } from './membership.ts';

/**
 * The Ambit CNI plugin: a chained plugin (CNI spec 1.0, https://github.com/containernetworking/cni/blob/main/SPEC.md)
 * that adds no interfaces. On ADD for an ambient pod it returns only after the node agent has captured the pod;
 * every other pod gets prevResult back at once, without the agent.
 *
 * Failure policy: membership unknown (API unreachable) fails ADD closed, except in excluded namespaces which are
 * never captured; the agent down fails ADD for ambient pods only; DEL never fails because of the agent.
 */

export interface PluginInputs {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
  /**
   * Where membership comes from when the node agent runs the logic in-process (its informer caches, then the API);
   * absent in the executable, which reads the API with the conflist's `kubeconfig`.
   */
  readonly membership?: MembershipLookup;
}

export interface PluginOutput {
  /** Written to stdout as is: a result, the version info, an error JSON, or nothing. */
  readonly stdout: string;
  /** Diagnostics for the runtime's log; never part of the protocol. */
  readonly stderr: string;
  readonly exitCode: number;
}

/** Bound on the best-effort agent call of DEL: pod teardown must not wait on a dead agent. */
const DEL_AGENT_TIMEOUT_MS = 1000;

export async function runPlugin(inputs: PluginInputs): Promise<PluginOutput> {
  // Errors before the config is read carry the newest version we speak: there is no other version to answer in.
  let version = PLUGIN_CNI_VERSION;
  try {
    const env = parseCniEnv(inputs.env);
    const config = parseStdin(inputs.stdin, env.command);
    if (config !== undefined) version = config.cniVersion;
    return await dispatch(env, config, inputs.membership);
  } catch (err) {
    const cniErr =
      err instanceof CniPluginError
        ? err
        : new CniPluginError(CniCode.IO_FAILURE, `internal error: ${err instanceof Error ? err.message : String(err)}`, '', err);
    return { stdout: `${JSON.stringify(toErrorJson(cniErr, version))}\n`, stderr: '', exitCode: 1 };
  }
}

async function dispatch(env: CniEnv, config: PluginConfig | undefined, membership: MembershipLookup | undefined): Promise<PluginOutput> {
  switch (env.command) {
    case 'VERSION':
      return ok(JSON.stringify({ cniVersion: PLUGIN_CNI_VERSION, supportedVersions: SUPPORTED_VERSIONS }));
    case 'ADD':
      return add(env, required(config), membership);
    case 'DEL':
      return del(env, required(config));
    case 'CHECK':
      // The plugin keeps no state of its own to check, and capture is the agent's to reconcile; CHECK only insists on
      // what the spec requires of it: a valid config and prevResult.
      if (required(config).prevResult === undefined) throw noPrevResult('CHECK');
      return ok('');
    case 'GC':
      // CNI 1.1 GC: the plugin holds no per-attachment state (the agent reconciles its own against the pod list).
      return ok('');
    case 'STATUS':
      // CNI 1.1 STATUS: always ready. Failing it would stop non-ambient pods too, which never need the agent.
      return ok('');
  }
}

async function add(env: CniEnv, config: PluginConfig, membership: MembershipLookup | undefined): Promise<PluginOutput> {
  const prevResult = config.prevResult;
  if (prevResult === undefined) throw noPrevResult('ADD');
  const passThrough = ok(JSON.stringify(prevResult));
  const { podNamespace, podName } = env.args;
  // Not a Kubernetes pod (no K8S_* args), or an excluded namespace: never captured, so never a reason to fail.
  if (podNamespace === undefined || podName === undefined) return passThrough;
  if (config.excludeNamespaces.includes(podNamespace)) return passThrough;

  const deadline = Date.now() + config.timeoutMs;
  let podUid = env.args.podUid;
  const kubeconfig = config.kubeconfig;
  const lookUp =
    membership ??
    (kubeconfig === undefined
      ? undefined
      : (ns: string, name: string, _uid: string | undefined, timeoutMs: number) => lookUpMembership(kubeconfig, ns, name, timeoutMs));
  if (lookUp !== undefined) {
    const member = await lookUp(podNamespace, podName, podUid, config.timeoutMs);
    if (!member.ambient) return passThrough;
    podUid ??= member.podUid;
  }
  // Without a way to read the API the agent decides membership itself and answers 200 for pods it leaves alone.
  const remainingMs = Math.max(1, deadline - Date.now());
  await agentAdd(
    config.agentSocket,
    {
      ...(podUid === undefined ? {} : { podUid }),
      podName,
      podNamespace,
      netns: env.netns,
      containerId: env.containerId,
      ifName: env.ifName,
      ips: prevResultIps(prevResult),
    },
    remainingMs,
  );
  return passThrough;
}

async function del(env: CniEnv, config: PluginConfig): Promise<PluginOutput> {
  const { podNamespace, podName } = env.args;
  const failure = await agentDel(
    config.agentSocket,
    {
      containerId: env.containerId,
      ...(podName === undefined ? {} : { podName }),
      ...(podNamespace === undefined ? {} : { podNamespace }),
    },
    Math.min(DEL_AGENT_TIMEOUT_MS, config.timeoutMs),
  );
  return { stdout: '', stderr: failure === undefined ? '' : `ambit-cni: DEL: node agent not told (ignored): ${failure}\n`, exitCode: 0 };
}

/** Addresses of prevResult's `ips`, without prefix length; entries that do not parse are skipped. */
export function prevResultIps(prevResult: Readonly<Record<string, unknown>>): string[] {
  const ips = prevResult['ips'];
  if (!Array.isArray(ips)) return [];
  const out: string[] = [];
  for (const ipc of ips as unknown[]) {
    if (!isRecord(ipc) || typeof ipc['address'] !== 'string') continue;
    const address = ipc['address'].split('/')[0] ?? '';
    if (address !== '') out.push(address);
  }
  return out;
}

function required(config: PluginConfig | undefined): PluginConfig {
  // parseStdin returns a config for every command but VERSION, or throws.
  if (config === undefined) throw new CniPluginError(CniCode.DECODING_FAILURE, 'cannot decode network configuration: stdin is empty');
  return config;
}

function noPrevResult(command: string): CniPluginError {
  return new CniPluginError(
    CniCode.INVALID_NETWORK_CONFIG,
    `invalid network configuration: ${command} without "prevResult"`,
    'ambit-cni is a chained plugin: list it after the plugin that creates the pod interface',
  );
}

function ok(stdout: string): PluginOutput {
  return { stdout: stdout === '' ? '' : `${stdout}\n`, stderr: '', exitCode: 0 };
}
