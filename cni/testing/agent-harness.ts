// Test support for the agent tests: a temporary directory for sockets and state, the stand-in API, the real agent
// in-process (restartable on the same files), a raw CNI client, and pod namespaces with addresses.
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger, type Logger } from '@ambit/core';
import { startAgent, type Agent, type AgentOptions } from '../src/agent/agent.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakeKubeApiOptions } from './fake-kube-api.ts';
import type { CaptureNetnsFixture } from './capture-netns.ts';

export const NODE = 'node1';

/** Logs of the agent under test: silent unless AMBIT_TEST_LOG names a level (then JSON lines on stderr). */
export function testLogger(): Logger {
  const level = process.env['AMBIT_TEST_LOG'];
  return level === undefined || level === '' ? silentLogger() : createLogger('agent-test', { level, destination: 2 });
}

/**
 * Pod addresses for this test process: 10.213.<pid-derived>.n keeps concurrently running test files (each its own
 * process) from putting the same address in two namespaces, which the agent would rightly refuse as ambiguous.
 */
export function podIp(n: number): string {
  return `10.213.${process.pid % 250}.${n}`;
}

export interface AgentHarness {
  readonly dir: string;
  readonly api: FakeKubeApi;
  readonly cniSocket: string;
  readonly ztunnelSocket: string;
  readonly stateFile: string;
  /** The running agent (after start()). */
  agent(): Agent;
  /** Starts an agent on the harness's files; extra options override the test defaults. */
  start(extra?: Partial<Omit<AgentOptions, 'log'>>): Promise<Agent>;
  /** Closes the running agent (as on SIGTERM). */
  stop(): Promise<void>;
  /** Stops everything and removes the directory. */
  close(): Promise<void>;
}

export async function createAgentHarness(apiOptions: FakeKubeApiOptions = {}): Promise<AgentHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-'));
  const api = await startFakeKubeApi(dir, apiOptions);
  const cniSocket = join(dir, 'agent.sock');
  const ztunnelSocket = join(dir, 'ztunnel.sock');
  const stateFile = join(dir, 'state', 'agent-state.json');
  let running: Agent | undefined;
  const harness: AgentHarness = {
    dir,
    api,
    cniSocket,
    ztunnelSocket,
    stateFile,
    agent() {
      if (running === undefined) throw new Error('BUG: no agent running');
      return running;
    },
    async start(extra = {}) {
      running = await startAgent({
        node: NODE,
        apiSocket: api.socketPath,
        cniSocket,
        ztunnelSocket,
        stateFile,
        log: testLogger(),
        ztunnelAckTimeoutMs: 2000,
        backoff: { initialMs: 50, maxMs: 500 },
        ...extra,
      });
      return running;
    },
    async stop() {
      await running?.close();
      running = undefined;
    },
    async close() {
      await harness.stop();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export interface CniAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One request to the agent's CNI socket, the body sent as given (a string is sent verbatim). */
export function cniCall(socketPath: string, path: string, body: unknown, method = 'POST'): Promise<CniAnswer> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path, method, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`agent answered ${res.statusCode ?? 0} with a body that is not JSON: ${text}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Creates a fixture namespace holding `ip` (on its loopback, /32: local like a pod's eth0 address); returns its path. */
export function addPodNetns(fx: CaptureNetnsFixture, short: string, ip: string): string {
  const name = fx.add(short);
  fx.exec(short, ['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  return `/run/netns/${name}`;
}

/** The ADD body the plugin sends for a pod. */
export function addBody(pod: { name: string; namespace: string; uid?: string }, netns: string, ip: string, containerId = `c-${pod.name}`): Record<string, unknown> {
  return {
    ...(pod.uid === undefined ? {} : { podUid: pod.uid }),
    podName: pod.name,
    podNamespace: pod.namespace,
    netns,
    containerId,
    ifName: 'eth0',
    ips: [ip],
  };
}
