import { isRecord } from '@ambit/core/fields';
import { CniCode, CniPluginError } from './cni-error.ts';
import { httpExchange, HttpExchangeError } from './http-exchange.ts';

/** `POST /v1/cni/add`: the agent answers 200 only once the pod's traffic is captured. */
export interface AgentAddRequest {
  readonly podUid?: string;
  readonly podName: string;
  readonly podNamespace: string;
  /** CNI_NETNS, e.g. `/run/netns/…` or `/proc/<pid>/ns/net`. */
  readonly netns: string;
  readonly containerId: string;
  readonly ifName: string;
  /** Pod addresses from prevResult, without prefix length, e.g. `10.244.1.2`. */
  readonly ips: readonly string[];
}

/** `POST /v1/cni/del`: the agent forgets the sandbox; it answers 200 also for one it never saw. */
export interface AgentDelRequest {
  readonly containerId: string;
  readonly podName?: string;
  readonly podNamespace?: string;
}

export const AGENT_ADD_PATH = '/v1/cni/add';
export const AGENT_DEL_PATH = '/v1/cni/del';

/** Waits for the agent to capture the pod; anything but 200 in time is code 11, naming the agent's own message. */
export async function agentAdd(agentSocket: string, body: AgentAddRequest, timeoutMs: number): Promise<void> {
  const what = `node agent (${agentSocket}) did not enrol pod ${body.podNamespace}/${body.podName} in ambient capture`;
  let res;
  try {
    res = await httpExchange({ target: { socketPath: agentSocket }, method: 'POST', path: AGENT_ADD_PATH, body, timeoutMs });
  } catch (err) {
    const why = err instanceof HttpExchangeError ? err.message : String(err);
    throw new CniPluginError(CniCode.TRY_AGAIN_LATER, `${what}: ${why}`, 'the pod must not run uncaptured; the runtime retries', err);
  }
  if (res.status !== 200) {
    throw new CniPluginError(
      CniCode.TRY_AGAIN_LATER,
      `${what}: HTTP ${res.status}: ${agentMessage(res.body)}`,
      'the pod must not run uncaptured; the runtime retries',
    );
  }
}

/** Best effort: DEL must succeed whether or not the agent is there (spec: DEL tolerates missing state). */
export async function agentDel(agentSocket: string, body: AgentDelRequest, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await httpExchange({ target: { socketPath: agentSocket }, method: 'POST', path: AGENT_DEL_PATH, body, timeoutMs });
    return res.status === 200 ? undefined : `HTTP ${res.status}: ${agentMessage(res.body)}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The agent's error text: `{"message"}` or `{"error"}` when it answers JSON, else the body itself, cut short. */
export function agentMessage(body: string): string {
  let text = body.trim();
  try {
    const json: unknown = JSON.parse(body);
    if (isRecord(json)) {
      const m = json['message'] ?? json['error'];
      if (typeof m === 'string') text = m;
    }
  } catch {
    // Not JSON: a plain-text message is fine as it is.
  }
  return text === '' ? '(empty body)' : text.slice(0, 512);
}
