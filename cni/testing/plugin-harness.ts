import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Shared by the plugin tests: the built executable run like a runtime runs it, and a stand-in node agent, a real HTTP
 * server on a unix socket. The API the plugin reads is the local cluster's real one (test/integration).
 */

const CNI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PLUGIN_BIN = join(CNI_DIR, 'bin', 'ambit-cni');

let built: Promise<void> | undefined;

/** Builds bin/ambit-cni from the current sources, once per test process (tests must run what they just changed). */
export function buildPlugin(): Promise<void> {
  built ??= promisify(execFile)(process.execPath, [join(CNI_DIR, 'scripts', 'build-plugin.mjs')]).then(() => undefined);
  return built;
}

/** A directory for sockets, short enough for sun_path (108 bytes), removed after the test. */
export async function socketDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tcni-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  /** performance-free wall clock (Date.now()) when the process exited. */
  readonly exitedAt: number;
}

/** Runs the plugin once, as a runtime does: CNI_* env only (plus PATH), config on stdin. */
export function runPluginBin(env: Readonly<Record<string, string>>, stdin: string, bin = PLUGIN_BIN): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ stdout, stderr, exitCode, exitedAt: Date.now() }));
    child.stdin.end(stdin);
  });
}

/** CNI_* for a pod, as a kubelet sets them (CNI CONVENTIONS.md for CNI_ARGS). */
export function podEnv(
  command: string,
  pod: { namespace: string; name: string; uid?: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  const args = [`IgnoreUnknown=1`, `K8S_POD_NAMESPACE=${pod.namespace}`, `K8S_POD_NAME=${pod.name}`, `K8S_POD_INFRA_CONTAINER_ID=c0ffee`];
  if (pod.uid !== undefined) args.push(`K8S_POD_UID=${pod.uid}`);
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: '/run/netns/ambit-tcni-pod',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: args.join(';'),
    CNI_PATH: '/usr/lib/cni',
    ...extra,
  };
}

/** A bridge plugin's 1.0.0 ADD result, the shape ambit-cni receives as prevResult. */
export const BRIDGE_RESULT = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: '2a:00:00:00:00:01' },
    { name: 'veth1234', mac: '2a:00:00:00:00:02' },
    { name: 'eth0', mac: '2a:00:00:00:00:03', sandbox: '/run/netns/ambit-tcni-pod' },
  ],
  ips: [{ interface: 2, address: '10.244.1.7/24', gateway: '10.244.1.1' }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
  dns: {},
} as const;

/**
 * The conflist entry as the runtime hands it to the plugin: `name`, `cniVersion` and `prevResult` injected; `null`
 * leaves prevResult out.
 */
export function netConf(fields: Record<string, unknown>, prevResult: unknown = BRIDGE_RESULT): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'ambit',
    type: 'ambit-cni',
    ...fields,
    ...(prevResult === null ? {} : { prevResult }),
  });
}

function listenUnix(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A kubeconfig file (JSON, which is YAML) for `server` with a token, and the CA when given; returns its path. For
 * tests of the plugin's failure paths: the plugin reading a real API is tested in test/integration/cni-plugin.test.ts.
 */
export async function kubeconfigFile(dir: string, server: string, caPem?: string): Promise<string> {
  const path = join(dir, 'kubeconfig');
  const cluster = { server, ...(caPem === undefined ? {} : { 'certificate-authority-data': Buffer.from(caPem).toString('base64') }) };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster }],
    users: [{ name: 'test', user: { token: 'test-token' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    'current-context': 'test',
  };
  await writeFile(path, JSON.stringify(doc), { mode: 0o600 });
  return path;
}

/** How the stand-in agent answers: status and body after `delayMs`. */
export interface AgentBehaviour {
  readonly status: number;
  readonly body?: string;
  readonly delayMs?: number;
}

export interface AgentCall {
  readonly path: string;
  readonly body: unknown;
  /** Date.now() when the answer was written. */
  answeredAt?: number;
}

export interface FakeAgent {
  readonly socketPath: string;
  readonly calls: AgentCall[];
  /** Exec requests from the C front end, answered 404. */
  readonly execProbes: { count: number };
}

export async function startFakeAgent(t: TestContext, dir: string, behaviour: AgentBehaviour = { status: 200 }): Promise<FakeAgent> {
  const socketPath = join(dir, 'agent.sock');
  const calls: AgentCall[] = [];
  const execProbes = { count: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // This stand-in speaks only the add/del contract: the C front end's exec request gets a 404, so the plugin runs
      // its Node implementation (the path it takes with an agent that cannot run the logic itself).
      if (req.url === '/v1/cni/exec') {
        execProbes.count += 1;
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not here"}');
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const call: AgentCall = { path: req.url ?? '', body: text === '' ? undefined : (JSON.parse(text) as unknown) };
      calls.push(call);
      const answer = (): void => {
        call.answeredAt = Date.now();
        res.writeHead(behaviour.status, { 'content-type': 'application/json' }).end(behaviour.body ?? '{}');
      };
      if (behaviour.delayMs === undefined) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, behaviour.delayMs);
      timers.add(timer);
    });
  });
  await listenUnix(server, socketPath);
  t.after(async () => {
    for (const timer of timers) clearTimeout(timer);
    await closeServer(server);
  });
  return { socketPath, calls, execProbes };
}
