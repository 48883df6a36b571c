import { AmbitError, asRecord } from '@ambit/core';
import { apiRequest, type KubeList } from '../api-client.ts';
import { formatTable } from '../table.ts';
import { readyRunner, type LocalContext } from './context.ts';

export type GetKind = 'nodes' | 'pods' | 'services';

export interface PodRow {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly ip: string;
  readonly phase: string;
  readonly ready: boolean;
}
export interface ServiceRow {
  readonly name: string;
  readonly namespace: string;
  readonly clusterIP: string;
  readonly ports: ReadonlyArray<{ name?: string; port: number; targetPort: number | string; protocol: string }>;
}
export interface NodeRow {
  readonly name: string;
  readonly ip: string;
  readonly podCidr: string;
}

type Obj = KubeList['items'][number];

export async function getRows(ctx: LocalContext, kind: GetKind, namespace?: string): Promise<PodRow[] | ServiceRow[] | NodeRow[]> {
  const info = readyRunner(ctx);
  if (kind === 'nodes') {
    return (info.nodes ?? []).map((n) => ({ name: n.name, ip: n.ip, podCidr: n.podCidr }));
  }
  const path = namespace === undefined ? `/api/v1/${kind}` : `/api/v1/namespaces/${namespace}/${kind}`;
  const list = await apiRequest<KubeList>(ctx.paths.apiSocket, 'GET', path);
  if (kind === 'pods') return list.items.map(podRow).sort(byNsName);
  return list.items.map(serviceRow).sort(byNsName);
}

function byNsName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

function podRow(p: Obj): PodRow {
  const spec = asRecord(p['spec']);
  const status = asRecord(p['status']);
  const conditions = Array.isArray(status['conditions']) ? status['conditions'].map(asRecord) : [];
  const terminating = asRecord(p['metadata'])['deletionTimestamp'] !== undefined;
  return {
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? '',
    node: String(spec['nodeName'] ?? ''),
    ip: String(status['podIP'] ?? ''),
    phase: terminating ? 'Terminating' : String(status['phase'] ?? 'Pending'),
    ready: conditions.some((c) => c['type'] === 'Ready' && c['status'] === 'True'),
  };
}

function serviceRow(s: Obj): ServiceRow {
  const spec = asRecord(s['spec']);
  const ports = (Array.isArray(spec['ports']) ? spec['ports'] : []).map(asRecord).map((p) => {
    const port = {
      port: Number(p['port']),
      targetPort: (p['targetPort'] as number | string | undefined) ?? Number(p['port']),
      protocol: String(p['protocol'] ?? 'TCP'),
    };
    return typeof p['name'] === 'string' ? { name: p['name'], ...port } : port;
  });
  return { name: s.metadata.name, namespace: s.metadata.namespace ?? '', clusterIP: String(spec['clusterIP'] ?? ''), ports };
}

export async function get(ctx: LocalContext, kind: string, namespace: string | undefined, output: string | undefined): Promise<void> {
  if (kind !== 'nodes' && kind !== 'pods' && kind !== 'services') {
    throw new AmbitError('BAD_ARGS', `cannot get "${kind}": choose nodes, pods or services (kubectl works for everything else)`);
  }
  const rows = await getRows(ctx, kind, namespace);
  if (output === 'json') {
    ctx.out.write(`${JSON.stringify({ items: rows }, null, 2)}\n`);
    return;
  }
  if (output !== undefined) throw new AmbitError('BAD_ARGS', `unknown output format "${output}" (use -o json)`);
  ctx.out.write(`${render(kind, rows)}\n`);
}

function render(kind: GetKind, rows: PodRow[] | ServiceRow[] | NodeRow[]): string {
  if (kind === 'nodes') {
    return formatTable(
      ['NAME', 'IP', 'POD-CIDR'],
      (rows as NodeRow[]).map((n) => [n.name, n.ip, n.podCidr]),
    );
  }
  if (kind === 'pods') {
    return formatTable(
      ['NAMESPACE', 'NAME', 'STATUS', 'READY', 'NODE', 'IP'],
      (rows as PodRow[]).map((p) => [p.namespace, p.name, p.phase, p.ready ? 'yes' : 'no', p.node, p.ip]),
    );
  }
  return formatTable(
    ['NAMESPACE', 'NAME', 'CLUSTER-IP', 'PORTS'],
    (rows as ServiceRow[]).map((s) => [
      s.namespace,
      s.name,
      s.clusterIP,
      s.ports.map((p) => `${p.port}→${p.targetPort}/${p.protocol}`).join(','),
    ]),
  );
}

/** What `up` prints: nodes, pods and services of the fresh cluster, and where to go next. */
export async function printSummary(ctx: LocalContext): Promise<void> {
  ctx.out.write(`local cluster "${ctx.paths.name}" is up\n\nNodes\n`);
  ctx.out.write(`${render('nodes', await getRows(ctx, 'nodes'))}\n\nPods\n`);
  ctx.out.write(`${render('pods', await getRows(ctx, 'pods'))}\n\nServices\n`);
  ctx.out.write(`${render('services', await getRows(ctx, 'services'))}\n\n`);
  ctx.out.write(`kubeconfig: ${ctx.paths.kubeconfig}\n`);
}
