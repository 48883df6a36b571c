import { execFile } from 'node:child_process';
import { AmbitError, asRecord } from '@ambit/core';
import { apiRequest, type KubeList } from '../api-client.ts';
import { readyRunner, type LocalContext } from '../local/context.ts';
import { formatTable } from '../table.ts';
import { formatTraffic } from './waypoint-traffic.ts';

export const WAYPOINT_CONFIG_KINDS = ['routes', 'backends', 'endpoints', 'traffic'] as const;
export type WaypointConfigKind = (typeof WAYPOINT_CONFIG_KINDS)[number];

/** The label the controller puts on a waypoint's pods (Gateway API, as istiod's deployer). */
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

type Dump = Record<string, unknown>;

/**
 * Reads one waypoint pod's `/config_dump`. The admin port listens on 127.0.0.1 inside the pod's network namespace
 * (as in a cluster, where one would `kubectl port-forward`), so curl runs inside that namespace, like `ztunnel-config`
 * does for a node: nothing is opened from the host namespace, and the waypoint exposes admin nowhere else.
 */
function fetchDump(netns: string, pod: string): Promise<Dump> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:15000/config_dump'],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null) {
          reject(
            new AmbitError('WAYPOINT_UNREACHABLE', `waypoint ${pod} did not answer on 127.0.0.1:15000: ${stderr.trim() || err.message}`),
          );
          return;
        }
        try {
          resolve(JSON.parse(stdout) as Dump);
        } catch {
          reject(new AmbitError('WAYPOINT_BAD_DUMP', `waypoint ${pod} returned something that is not JSON`));
        }
      },
    );
  });
}

/** Running waypoint pods in `namespace` (of Gateway `name`, or of every waypoint there). */
async function waypointPods(
  ctx: LocalContext,
  namespace: string,
  name: string | undefined,
): Promise<Array<{ pod: string; gateway: string }>> {
  const list = await apiRequest<KubeList>(ctx.paths.apiSocket, 'GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`);
  const out: Array<{ pod: string; gateway: string }> = [];
  for (const p of list.items) {
    const gateway = asRecord(asRecord(p.metadata)['labels'])[GATEWAY_NAME_LABEL];
    if (typeof gateway !== 'string' || (name !== undefined && gateway !== name)) continue;
    if (asRecord(p['status'])['phase'] !== 'Running') continue;
    out.push({ pod: p.metadata.name, gateway });
  }
  return out.sort((a, b) => a.pod.localeCompare(b.pod));
}

/**
 * `ambitctl waypoint-config routes|backends|endpoints|traffic [-n NS] [--name N] [-o json]`: what the waypoint pods of a
 * namespace serve, from their admin `/config_dump` (istioctl's `proxy-config` for waypoints, on the local cluster).
 */
export async function waypointConfig(
  ctx: LocalContext,
  kind: string | undefined,
  opts: { readonly namespace: string; readonly name: string | undefined; readonly output: string | undefined },
): Promise<void> {
  if (kind === undefined || !(WAYPOINT_CONFIG_KINDS as readonly string[]).includes(kind)) {
    throw new AmbitError('BAD_ARGS', `waypoint-config needs one of ${WAYPOINT_CONFIG_KINDS.join(', ')}`);
  }
  if (opts.output !== undefined && opts.output !== 'json')
    throw new AmbitError('BAD_ARGS', `unknown output format "${opts.output}" (use -o json)`);
  readyRunner(ctx);
  const pods = await waypointPods(ctx, opts.namespace, opts.name);
  if (pods.length === 0) {
    const which = opts.name === undefined ? 'no waypoint' : `no waypoint ${JSON.stringify(opts.name)}`;
    throw new AmbitError('NOT_FOUND', `${which} with a running pod in namespace ${opts.namespace}`);
  }
  const dumps = await Promise.all(
    pods.map(async ({ pod }) => {
      const { netns } = await apiRequest<{ netns: string }>(ctx.paths.apiSocket, 'POST', '/ambit/v1/pod-netns', {
        namespace: opts.namespace,
        name: pod,
      });
      return { pod: `${opts.namespace}/${pod}`, dump: await fetchDump(netns, pod) };
    }),
  );
  if (opts.output === 'json') {
    ctx.out.write(`${JSON.stringify(Object.fromEntries(dumps.map((d) => [d.pod, d.dump[kind]])), null, 2)}\n`);
    return;
  }
  ctx.out.write(`${formatWaypointConfig(kind as WaypointConfigKind, dumps)}\n`);
}

const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(asRecord) : []);

/** One line of a route entry's match: `PathPrefix /api, header x-canary=true, GET` (`*` for an empty match). */
export function describeMatch(match: Record<string, unknown>): string {
  const parts: string[] = [];
  const path = asRecord(match['path']);
  if (path['type'] !== undefined) parts.push(`${s(path['type'])} ${s(path['value'])}`);
  for (const h of list(match['headers'])) parts.push(`header ${s(h['name'])}${h['type'] === 'Exact' ? '=' : '~'}${s(h['value'])}`);
  for (const q of list(match['queryParams'])) parts.push(`query ${s(q['name'])}${q['type'] === 'Exact' ? '=' : '~'}${s(q['value'])}`);
  if (match['method'] !== undefined) parts.push(s(match['method']));
  return parts.length === 0 ? '*' : parts.join(', ');
}

function describeBackends(rule: Record<string, unknown>): string {
  const backends = list(rule['backends']);
  if (backends.length === 0) {
    const redirect = list(rule['filters']).find((f) => f['type'] === 'RequestRedirect');
    return redirect === undefined ? '(none: 500)' : `redirect ${s(redirect['statusCode'])}`;
  }
  return backends
    .map((b) => {
      const svc = asRecord(b['service']);
      const target = svc['hostname'] === undefined ? `invalid (${s(b['invalidReason'])})` : `${s(svc['hostname'])}:${s(svc['port'])}`;
      return backends.length === 1 ? target : `${target} ${s(b['weight'])}`;
    })
    .join(', ');
}

/** The table for `kind`, one row per route entry / backend port / endpoint, across the given dumps. */
export function formatWaypointConfig(kind: WaypointConfigKind, dumps: ReadonlyArray<{ pod: string; dump: Dump }>): string {
  if (kind === 'traffic') return formatTraffic(dumps);
  const rows: string[][] = [];
  if (kind === 'routes') {
    for (const { pod, dump } of dumps) {
      for (const set of list(dump['routes'])) {
        const rules = list(set['rules']);
        for (const entry of list(set['entries'])) {
          const rule = rules[Number(entry['rule'])] ?? {};
          rows.push([
            pod,
            s(set['name']),
            (Array.isArray(set['appliesTo']) ? set['appliesTo'] : []).map(String).join(','),
            `${s(rule['route'])}#${s(rule['ruleIndex'])}`,
            describeMatch(asRecord(entry['match'])),
            describeBackends(rule),
          ]);
        }
      }
    }
    return formatTable(['WAYPOINT', 'ROUTE SET', 'APPLIES TO', 'RULE', 'MATCH', 'BACKENDS'], rows);
  }
  if (kind === 'backends') {
    for (const { pod, dump } of dumps) {
      for (const b of list(dump['backends'])) {
        const ports = list(b['ports']).map(
          (p) => `${s(p['port'])}/${s(p['protocol'])}→${s(p['targetPort']) === '0' ? 'named' : s(p['targetPort'])}`,
        );
        rows.push([
          pod,
          s(b['namespace']),
          s(b['hostname']),
          (Array.isArray(b['vips']) ? b['vips'] : []).map(String).join(','),
          ports.join(','),
          b['served'] === true ? 'yes' : 'no',
        ]);
      }
    }
    return formatTable(['WAYPOINT', 'NAMESPACE', 'HOSTNAME', 'VIPS', 'PORTS', 'SERVED'], rows);
  }
  for (const { pod, dump } of dumps) {
    for (const e of list(dump['endpoints'])) {
      const eps = list(e['endpoints']);
      if (eps.length === 0) rows.push([pod, s(e['service']), s(e['port']), '(none)', '', '']);
      for (const x of eps)
        rows.push([
          pod,
          s(e['service']),
          s(e['port']),
          `${s(x['address'])}:${s(x['port'])}`,
          `${s(x['namespace'])}/${s(x['workload'])}`,
          s(x['identity']),
        ]);
    }
  }
  return formatTable(['WAYPOINT', 'SERVICE', 'PORT', 'ENDPOINT', 'WORKLOAD', 'IDENTITY'], rows);
}
