// Wall time of one CNI ADD as a runtime pays it (spawn, stdin config, wait for exit), for a non-ambient pod: the
// Ambit plugin against the reference `loopback` plugin (Go) as the baseline, 50 runs each, sequential. Two Ambit
// paths: the C front end answered by a running node agent (the normal case), and the Node implementation it falls
// back to when the agent is down, which reads the pod and its namespace from the API (the local cluster's API server,
// over TLS with a token, through the kubeconfig in its conflist entry). Needs root (the loopback plugin needs a real
// netns: ambit-tcni<pid>-bench, removed at the end).
// Not a test: `npm run bench` runs it (needs root).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '@ambit/core';
import { startAgent } from '../cni/src/agent/agent.ts';
import { createApiServer } from '../local/src/api/server.ts';
import { writeKubeconfig } from '../local/src/runner/kubeconfig.ts';
import { ObjectStore } from '../local/src/store/object-store.ts';

const RUNS = 50;
const WARMUP = 5;
const cniDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'cni');
const plugin = join(cniDir, 'bin', 'ambit-cni');
const run = promisify(execFile);

/** Spawns `bin` once like a runtime and resolves with its wall time in ms; rejects on a non-zero exit. */
function timeOnce(bin: string, env: Record<string, string>, stdin: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env: { PATH: '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`${bin} exit ${String(code)}: ${out}`)),
    );
    child.stdin.end(stdin);
  });
}

async function measure(label: string, bin: string, env: Record<string, string>, stdin: string): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await timeOnce(bin, env, stdin);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeOnce(bin, env, stdin));
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const p50 = times[Math.floor(times.length / 2)] ?? 0;
  const p95 = times[Math.floor(times.length * 0.95)] ?? 0;
  console.log(`${label.padEnd(46)} mean ${mean.toFixed(1)} ms  p50 ${p50.toFixed(1)} ms  p95 ${p95.toFixed(1)} ms  (n=${RUNS})`);
  return mean;
}

await run(process.execPath, [join(cniDir, 'scripts', 'build-plugin.mjs')]);
const netnsName = `ambit-tcni${process.pid}-bench`;
const dir = await mkdtemp(join(tmpdir(), 'ambit-tcni-bench-'));
// The API: namespace `plain` (not ambient) with the pod the runs add, on the agent's node.
const store = new ObjectStore({ namespaces: ['default', 'kube-system', 'plain'] });
store.create({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-1', namespace: 'plain' },
  spec: { nodeName: 'node1', containers: [{ name: 'app', image: 'app' }] },
});
const token = 'bench-token';
const api = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token, log: silentLogger() });
const kubeconfig = join(dir, 'kubeconfig');
writeKubeconfig(kubeconfig, 'bench', api.url, token, api.caCertPem);
await run('ip', ['netns', 'add', netnsName]);
try {
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: `/run/netns/${netnsName}` }],
    ips: [{ interface: 0, address: '10.244.1.2/24' }],
  };
  const env = (ns: string): Record<string, string> => ({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'bench',
    CNI_NETNS: `/run/netns/${netnsName}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/usr/lib/cni',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=web-1`,
  });
  const agentDir = await mkdtemp(join(tmpdir(), 'ambit-tcni-agent-'));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const agent = await startAgent({
    node: 'node1',
    kubeConfig,
    cniSocket: join(agentDir, 'cni.sock'),
    ztunnelSocket: join(agentDir, 'zds.sock'),
    stateFile: join(agentDir, 'state.json'),
    log: silentLogger(),
  });
  const withAgent = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'ambit',
    type: 'ambit-cni',
    agentSocket: join(agentDir, 'cni.sock'),
    kubeconfig,
    prevResult,
  });
  const agentDown = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'ambit',
    type: 'ambit-cni',
    agentSocket: join(dir, 'absent.sock'),
    kubeconfig,
    prevResult,
  });
  // With its caches filled, the agent answers a known pod's membership without an API round trip.
  while (!agent.synced()) await new Promise((resolve) => setTimeout(resolve, 20));
  try {
    console.log(`node ${process.version}; CNI ADD wall time, spawn to exit`);
    const base = await measure(
      'baseline: /usr/lib/cni/loopback ADD',
      '/usr/lib/cni/loopback',
      { ...env('plain'), CNI_IFNAME: 'lo' },
      JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    );
    const plain = await measure('ambit-cni ADD, non-ambient pod, agent up', plugin, env('plain'), withAgent);
    const excluded = await measure('ambit-cni ADD, excluded namespace, agent up', plugin, env('kube-system'), withAgent);
    const downPlain = await measure('ambit-cni ADD, non-ambient pod, agent down', plugin, env('plain'), agentDown);
    console.log(
      `ratios to loopback: non-ambient ${(plain / base).toFixed(2)}x, excluded ${(excluded / base).toFixed(2)}x, ` +
        `agent down (Node fallback) ${(downPlain / base).toFixed(1)}x`,
    );
  } finally {
    await agent.close();
    await rm(agentDir, { recursive: true, force: true });
  }
} finally {
  await run('ip', ['netns', 'delete', netnsName]);
  await api.close();
  await rm(dir, { recursive: true, force: true });
}
