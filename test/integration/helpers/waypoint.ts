import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterPaths } from '@ambit/local';
import { ambitctl, podNetns, REPO, run, type RunResult } from './ambitctl.ts';
import { componentLog } from './mesh-components.ts';

/** The waypoint tests' apps (test/integration/fixtures/waypoint/apps), run by the host's Node inside pods. */
export const WAYPOINT_APPS = join(REPO, 'test', 'integration', 'fixtures', 'waypoint', 'apps');

export interface WaypointPod {
  readonly name: string;
  readonly ip: string;
  readonly node: string;
  readonly serviceAccount: string;
  readonly ready: boolean;
}

interface PodJson {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string; serviceAccountName?: string };
  status: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string }> };
}

/** What the waypoint tests do to a running local cluster: commands in pods, kubectl, logs, waypoint look-ups. */
export class ClusterDriver {
  readonly paths: ReturnType<typeof clusterPaths>;

  constructor(readonly cluster: string) {
    this.paths = clusterPaths(cluster);
  }

  readonly #netns = new Map<string, string>();

  /**
   * Runs a command inside a pod; resolves with its output whatever the exit code. The pod's namespace is found once
   * with `ambitctl local exec` (as a user would), then entered with `ip netns exec` directly: the checks run hundreds
   * of short commands, and starting ambitctl for each cost over a second apiece on 2 loaded cores.
   */
  async exec(ns: string, pod: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const key = `${ns}/${pod}`;
    let netns = this.#netns.get(key);
    if (netns === undefined) this.#netns.set(key, (netns = await podNetns(this.cluster, ns, pod)));
    return run(['ip', 'netns', 'exec', netns, ...argv], { timeoutMs: 60_000, ...opts });
  }

  /** The same through `ambitctl local exec`, as users type it. */
  execAsUser(ns: string, pod: string, argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return ambitctl(this.cluster, ['local', 'exec', '-n', ns, pod, '--', ...argv], { timeoutMs: 60_000, ...opts });
  }

  /** One of the test apps, run by this Node inside a pod. */
  app(ns: string, pod: string, app: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.exec(ns, pod, [process.execPath, join(WAYPOINT_APPS, app), ...args], { timeoutMs });
  }

  /** An app's single JSON line of output (fails with its output when there is none). */
  async appJson<T>(ns: string, pod: string, app: string, args: readonly string[], timeoutMs = 60_000): Promise<T> {
    const r = await this.app(ns, pod, app, args, timeoutMs);
    assert.equal(r.code, 0, `${app} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`${app} ${args.join(' ')} printed no JSON: ${r.stderr}${r.stdout}`);
    }
  }

  kubectl(args: readonly string[], input?: string): Promise<RunResult> {
    return run(['kubectl', '--kubeconfig', this.paths.kubeconfig, ...args], input === undefined ? {} : { input });
  }

  async kubectlJson<T>(args: readonly string[]): Promise<T> {
    const r = await this.kubectl([...args, '-o', 'json']);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** A pod container's output so far ('' when it has none yet). */
  podLog(ns: string, pod: string, container?: string): string {
    const dir = join(this.paths.logDir, ns, pod);
    try {
      return readFileSync(join(dir, `${container ?? pod}.log`), 'utf8');
    } catch {
      return container === undefined ? this.#onlyLog(dir) : '';
    }
  }

  #onlyLog(dir: string): string {
    // The waypoint Deployment names its container; read whichever logs the pod has.
    return readdirSyncSafe(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  }

  /** The JSON lines a node's ztunnel logged with `"direction":"inbound"`. */
  ztunnelInbound(node: string): Array<Record<string, unknown>> {
    return componentLog(this.paths, 'ztunnel', node)
      .split('\n')
      .filter((l) => l.includes('"direction":"inbound"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** The pods of a waypoint Gateway (label gateway.networking.k8s.io/gateway-name), running ones first. */
  async waypointPods(ns: string, gateway: string): Promise<WaypointPod[]> {
    const list = await this.kubectlJson<{ items: PodJson[] }>([
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      `gateway.networking.k8s.io/gateway-name=${gateway}`,
    ]);
    return list.items
      .filter((p) => p.status.phase === 'Running')
      .map((p) => ({
        name: p.metadata.name,
        ip: p.status.podIP ?? '',
        node: p.spec.nodeName ?? '',
        serviceAccount: p.spec.serviceAccountName ?? 'default',
        ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      }));
  }

  /** The one ready waypoint pod of a Gateway. */
  async waypointPod(ns: string, gateway: string): Promise<WaypointPod> {
    const ready = (await this.waypointPods(ns, gateway)).filter((p) => p.ready);
    assert.equal(ready.length, 1, `one ready pod of waypoint ${ns}/${gateway}: ${JSON.stringify(ready)}`);
    return ready[0]!;
  }

  /** PID of the waypoint process inside a waypoint pod (the process of that netns whose command names the waypoint). */
  async waypointPid(ns: string, pod: string): Promise<number> {
    const netns = await podNetns(this.cluster, ns, pod);
    const r = await run(['ip', 'netns', 'pids', netns]);
    const candidates = r.stdout
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map(Number)
      .filter((pid) => {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          return cmd.includes('waypoint') && !cmd.includes('\0sh\0');
        } catch {
          return false;
        }
      })
      .sort((a, b) => rssBytes(b) - rssBytes(a));
    assert.ok(candidates[0] !== undefined, `a waypoint process runs in pod ${ns}/${pod}`);
    return candidates[0];
  }

  /** The waypoint's metrics text, read from inside its pod on 15020 (the path Prometheus scrapes). */
  async waypointMetrics(ns: string, pod: string): Promise<{ path: string; text: string }> {
    for (const path of ['/stats/prometheus', '/metrics']) {
      const r = await this.exec(ns, pod, ['curl', '-sS', '--max-time', '5', '-f', `http://127.0.0.1:15020${path}`]);
      if (r.code === 0 && r.stdout.includes('# TYPE')) return { path, text: r.stdout };
    }
    throw new Error(`waypoint pod ${ns}/${pod} serves no metrics on 15020 (/stats/prometheus or /metrics)`);
  }
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Resident set size of a process in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every 100 ms until stop(); returns the peak. */
export function sampleRss(pid: number): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    },
  };
}

/** JSON access-log records (one per line) of a log text whose any value contains `needle`. */
export function jsonLinesWith(text: string, needle: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.includes(needle)) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A non-JSON line (a start-up message) is not an access record.
    }
  }
  return out;
}

/** Keys of a record (flattened one level: `a.b` for nested objects) whose value is exactly `value`. */
export function keysWithValue(record: Record<string, unknown>, value: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(record)) {
    if (v === value) out.push(k);
    else if (typeof v === 'object' && v !== null)
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (v2 === value) out.push(`${k}.${k2}`);
  }
  return out;
}
