// POST /v1/cni/exec: the plugin logic run inside the agent for the C front end (native/ambit-cni-shim.c), so a pod's
// start-up pays a few milliseconds instead of a Node start-up. The front end forwards the runtime's CNI_* variables as
// `CNI-*` headers and the network configuration as the body; the answer is the plugin's stdout, with its exit code
// in `cni-exit-code`. The logic is exactly the executable's (runPlugin), so both paths behave the same, except where
// membership comes from: the agent's informer caches (then the API) rather than a kubeconfig read per call.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, type Logger } from '@ambit/core';
import { CniCode, CniPluginError } from '../plugin/cni-error.ts';
import { isAmbient, type MembershipLookup } from '../plugin/membership.ts';
import { runPlugin } from '../plugin/plugin.ts';
import type { PodLookup } from './pod-lookup.ts';

export const AGENT_EXEC_PATH = '/v1/cni/exec';

const FORWARDED = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'] as const;

/** The plugin's membership question answered by the agent: Istio's rule on the pod and namespace it knows. */
export function agentMembership(lookup: PodLookup): MembershipLookup {
  return async (podNamespace, podName, podUid, timeoutMs) => {
    try {
      const { pod, namespace } = await lookup.lookUp(podNamespace, podName, podUid, timeoutMs);
      return { ambient: isAmbient(pod, namespace), podUid: pod.uid };
    } catch (err) {
      // As the executable does: not knowing is code 11, so a pod that may be ambient never starts uncaptured.
      throw new CniPluginError(
        CniCode.TRY_AGAIN_LATER,
        `cannot read pod ${podNamespace}/${podName} to decide ambient capture: ${errorMessage(err)}`,
        '',
        err,
      );
    }
  };
}

export async function handlePluginExec(
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
  lookup: PodLookup,
  log: Logger,
  ownSocket: string,
): Promise<{ exitCode: number }> {
  const env: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = req.headers[name.toLowerCase().replaceAll('_', '-')];
    if (typeof v === 'string') env[name] = v;
  }
  const out = await runPlugin({ env, stdin: withAgentSocket(body, ownSocket), membership: agentMembership(lookup) });
  if (out.stderr !== '')
    log.info({ command: env['CNI_COMMAND'], containerId: env['CNI_CONTAINERID'], stderr: out.stderr.trim() }, 'plugin stderr');
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(out.stdout),
    'cni-exit-code': String(out.exitCode),
  });
  res.end(out.stdout);
  return { exitCode: out.exitCode };
}

/**
 * The configuration's `agentSocket` is the runtime's (the node's) path to this agent; the agent itself reaches its
 * socket at its own `--cni-socket` path. In a cluster both are the same hostPath; a local node maps the hostPath
 * under the cluster's state directory (contract 1), so inside the agent's mount namespace the node's path does not
 * exist. A body that is not a JSON object is left for runPlugin to reject.
 */
function withAgentSocket(body: string, ownSocket: string): string {
  let conf: unknown;
  try {
    conf = JSON.parse(body);
  } catch {
    return body;
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf) || !('agentSocket' in conf)) return body;
  return JSON.stringify({ ...conf, agentSocket: ownSocket });
}
