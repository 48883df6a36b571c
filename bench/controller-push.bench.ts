// Control-plane push: with N synthetic ambient workloads and C subscribed xDS clients, the time from one pod change
// (written to the API) to every client holding the new version, p50/p99 over R changes; the controller's memory per
// workload; and, as the baseline measured in the same run, the time for a plain Kubernetes watch on the same API to
// deliver the same change (what any controller pays before doing work). Not a test: `npm run bench`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ADDRESS_TYPE_URL, silentLogger } from '@ambit/core';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { createApiServer } from '../local/src/api/server.ts';
import { ObjectStore } from '../local/src/store/object-store.ts';

const N = Number(process.env['BENCH_WORKLOADS'] ?? 10_000);
const C = Number(process.env['BENCH_CLIENTS'] ?? 50);
const R = Number(process.env['BENCH_CHANGES'] ?? 100);
const dir = mkdtempSync(join(tmpdir(), 'ambit-push-bench-'));
const token = 'bench-token';
const store = new ObjectStore({ namespaces: ['default', 'ambit-system', 'bench'], historyLimit: 50_000 });
const podType = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
store.patch(
  store.typeOf({ apiVersion: 'v1', kind: 'Namespace' }),
  undefined,
  'bench',
  { metadata: { labels: { 'istio.io/dataplane-mode': 'ambient' } } },
  { patchType: 'merge' },
);
const api = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token, log: silentLogger() });
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'b',
    clusters: [
      { name: 'b', cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.caCertPem ?? '').toString('base64') } },
    ],
    users: [{ name: 'b', user: { token } }],
    contexts: [{ name: 'b', context: { cluster: 'b', user: 'b' } }],
  }),
);
writeFileSync(join(dir, 'creds.json'), JSON.stringify({ 'node-token': 'node1' }));
const xdsSocket = join(dir, 'xds.sock');
const debugSocket = join(dir, 'debug.sock');
const controller = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    'controller/src/main.ts',
    '--kubeconfig',
    kubeconfig,
    '--xds-socket',
    xdsSocket,
    '--debug-socket',
    debugSocket,
    '--ca-dir',
    join(dir, 'ca'),
    '--node-credentials',
    join(dir, 'creds.json'),
  ],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, AMBIT_LOG_LEVEL: 'warn' } },
);
const clients: XdsClient[] = [];

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ socketPath: debugSocket, path }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}
async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const rssMb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${controller.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const pod = (i: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `w-${i}`, namespace: 'bench', labels: { app: `app-${i % 100}`, version: 'v1' } },
  spec: { nodeName: `node${(i % 2) + 1}`, serviceAccountName: 'default', containers: [{ name: 'c', command: ['x'] }] },
});

try {
  await until(async () => (await get('/ready')).status === 200, 60_000, 'controller ready');
  const rss0 = rssMb();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    store.create(pod(i));
    store.patch(
      podType,
      'bench',
      `w-${i}`,
      {
        status: {
          phase: 'Running',
          podIP: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      },
      { patchType: 'merge', subresource: 'status' },
    );
  }
  await until(
    async () => (JSON.parse((await get('/debug/model')).body || '{"workloads":[]}') as { workloads: unknown[] }).workloads.length === N,
    300_000,
    `${N} workloads in the model`,
  );
  const modelMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2000));
  const rss1 = rssMb();

  // C proxies subscribe (full state) and record when each version of each resource arrives.
  const arrivals = new Map<string, number[]>();
  const initialStart = performance.now();
  for (let c = 0; c < C; c++) {
    clients.push(
      createXdsClient({
        target: `unix:${xdsSocket}`,
        node: { id: `bench-${c}` },
        log: silentLogger(),
        types: [
          xdsType<Uint8Array>({
            typeUrl: ADDRESS_TYPE_URL,
            decode: (_n, b) => b,
            onChange: (ch) => {
              const now = performance.now();
              for (const name of ch.upserted.keys()) (arrivals.get(name) ?? arrivals.set(name, []).get(name))?.push(now);
            },
          }),
        ],
      }),
    );
  }
  await until(() => clients.every((c) => c.state(ADDRESS_TYPE_URL).size >= N), 300_000, 'clients synced');
  const initialMs = performance.now() - initialStart;

  // Baseline: a raw watch of the same API, as any Kubernetes controller sees the change.
  const watchArrivals: number[] = [];
  const watchHandle = store.watch(podType, { namespace: 'bench' }, () => watchArrivals.push(performance.now()));
  const pushMs: number[] = [];
  const watchMs: number[] = [];
  for (let r = 0; r < R; r++) {
    const name = `Kubernetes//Pod/bench/w-${r}`;
    arrivals.delete(name);
    const before = watchArrivals.length;
    const start = performance.now();
    store.patch(podType, 'bench', `w-${r}`, { metadata: { labels: { version: `v${r + 2}` } } }, { patchType: 'merge' });
    watchMs.push((watchArrivals[before] ?? performance.now()) - start);
    await until(() => (arrivals.get(name)?.length ?? 0) >= C, 10_000, `change ${r} at all clients`);
    pushMs.push(Math.max(...(arrivals.get(name) ?? [])) - start);
  }
  watchHandle.stop();
  const convergence = (await get('/metrics')).body
    .split('\n')
    .filter((l) => l.startsWith('pilot_proxy_convergence_time_sum') || l.startsWith('pilot_proxy_convergence_time_count'));

  console.log(`controller push — node ${process.version}, ${cpus().length} cpus, kernel ${release()}`);
  console.log(`workloads ${N}, clients ${C}, changes ${R}`);
  console.log(
    `model built from the API: ${(modelMs / 1000).toFixed(1)} s; initial full push to ${C} clients: ${(initialMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `one pod change → all ${C} clients: p50 ${pct(pushMs, 50).toFixed(1)} ms, p99 ${pct(pushMs, 99).toFixed(1)} ms (includes the 100 ms debounce)`,
  );
  console.log(`baseline, in-process store watch delivery: p50 ${pct(watchMs, 50).toFixed(3)} ms`);
  console.log(
    `controller RSS: ${rss0.toFixed(0)} MB empty → ${rss1.toFixed(0)} MB with ${N} workloads = ${(((rss1 - rss0) * 1024 * 1024) / N / 1024).toFixed(1)} KiB per workload`,
  );
  console.log(`server-side convergence histogram: ${convergence.join('; ')}`);
} finally {
  for (const c of clients) c.close();
  controller.kill('SIGTERM');
  await new Promise((r) => controller.once('exit', r));
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}
