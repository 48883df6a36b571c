import { execFile } from 'node:child_process';
import { AmbitError } from '@ambit/core';
import { formatTable } from '../table.ts';
import { readyRunner, type LocalContext } from '../local/context.ts';

const KINDS = ['workloads', 'services', 'policies', 'certificates'] as const;
type Kind = (typeof KINDS)[number];

type Dump = Record<string, unknown>;

/**
 * Reads one node's ztunnel `/config_dump`. The admin port listens on 127.0.0.1 inside the node's network namespace
 * (as in a cluster, where one would `kubectl port-forward`), so the request is made from inside that namespace.
 */
function fetchDump(netns: string, node: string): Promise<Dump> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:15000/config_dump'],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null) {
          reject(
            new AmbitError('ZTUNNEL_UNREACHABLE', `ztunnel on ${node} did not answer on 127.0.0.1:15000: ${stderr.trim() || err.message}`),
          );
          return;
        }
        try {
          resolve(JSON.parse(stdout) as Dump);
        } catch {
          reject(new AmbitError('ZTUNNEL_BAD_DUMP', `ztunnel on ${node} returned something that is not JSON`));
        }
      },
    );
  });
}

const s = (v: unknown): string => (Array.isArray(v) ? v.map(String).join(',') : v === undefined || v === null ? '' : String(v));
const list = (d: Dump, key: string): Array<Record<string, unknown>> =>
  Array.isArray(d[key]) ? (d[key] as Array<Record<string, unknown>>) : [];

/**
 * `ambitctl ztunnel-config workloads|services|policies|certificates [--node N] [-o json]`: what a node's ztunnel
 * believes, from its admin `/config_dump` (istioctl's ztunnel-config for the local cluster).
 */
export async function ztunnelConfig(
  ctx: LocalContext,
  kind: string | undefined,
  node: string | undefined,
  output: string | undefined,
): Promise<void> {
  if (kind === undefined || !KINDS.includes(kind as Kind))
    throw new AmbitError('BAD_ARGS', `ztunnel-config needs one of ${KINDS.join(', ')}`);
  if (output !== undefined && output !== 'json') throw new AmbitError('BAD_ARGS', `unknown output format "${output}" (use -o json)`);
  const nodes = readyRunner(ctx).nodes ?? [];
  const selected = node === undefined ? nodes : nodes.filter((n) => n.name === node);
  if (selected.length === 0) throw new AmbitError('NOT_FOUND', `no node ${String(node)} (nodes: ${nodes.map((n) => n.name).join(', ')})`);
  const dumps = await Promise.all(selected.map(async (n) => ({ node: n.name, dump: await fetchDump(n.netns, n.name) })));
  if (output === 'json') {
    const out = Object.fromEntries(dumps.map((d) => [d.node, d.dump[kind]]));
    ctx.out.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const rows: string[][] = [];
  let head: string[] = [];
  for (const { node: n, dump } of dumps) {
    if (kind === 'workloads') {
      head = ['ZTUNNEL', 'NAMESPACE', 'NAME', 'ADDRESS', 'NODE', 'PROTOCOL', 'STATUS'];
      for (const w of list(dump, 'workloads'))
        rows.push([n, s(w['namespace']), s(w['name']), s(w['addresses']), s(w['node']), s(w['tunnelProtocol']), s(w['status'])]);
    } else if (kind === 'services') {
      head = ['ZTUNNEL', 'NAMESPACE', 'HOSTNAME', 'VIPS', 'PORTS'];
      for (const v of list(dump, 'services')) {
        const vips = (Array.isArray(v['addresses']) ? v['addresses'] : []).map((a: { address?: string }) => a.address ?? '');
        const ports = (Array.isArray(v['ports']) ? v['ports'] : []).map(
          (p: { servicePort?: number; targetPort?: number }) => `${p.servicePort}→${p.targetPort || 'named'}`,
        );
        rows.push([n, s(v['namespace']), s(v['hostname']), vips.join(','), ports.join(',')]);
      }
    } else if (kind === 'policies') {
      head = ['ZTUNNEL', 'NAMESPACE', 'NAME', 'SCOPE', 'ACTION', 'RULES', 'DRY-RUN'];
      for (const p of list(dump, 'policies'))
        rows.push([
          n,
          s(p['namespace']),
          s(p['name']),
          s(p['scope']),
          s(p['action']),
          String(Array.isArray(p['rules']) ? p['rules'].length : 0),
          s(p['dryRun']),
        ]);
    } else {
      head = ['ZTUNNEL', 'IDENTITY', 'STATE', 'VALID FROM', 'EXPIRES', 'NEXT REFRESH'];
      for (const c of list(dump, 'certificates')) {
        const leaf = (Array.isArray(c['certChain']) ? c['certChain'] : [])[0] as
          { validFrom?: string; expirationTime?: string } | undefined;
        rows.push([n, s(c['identity']), s(c['state']), s(leaf?.validFrom), s(leaf?.expirationTime), s(c['nextRefreshAt'])]);
      }
    }
  }
  ctx.out.write(`${formatTable(head, rows)}\n`);
}
