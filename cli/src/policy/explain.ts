import { AmbitError, HBONE_PORT, ROOT_NAMESPACE, spiffeId, type Authorization, type Workload } from '@ambit/core';
import { explain, policiesInScope, type PolicyExplanation } from '@ambit/core/policy';
import { fetchModel } from '../debug/model.ts';
import type { LocalContext } from '../local/context.ts';

/**
 * `ambitctl policy explain --from NS/POD --to NS/POD:PORT`: evaluates the L4 authorization the destination's ztunnel
 * would apply, against the controller's current model (the same code ztunnel runs), and says which policy and rule
 * decided and why each other policy did not match.
 */
export async function policyExplain(
  ctx: LocalContext,
  from: string,
  to: string,
  kubeconfig: string | undefined,
  output: string | undefined,
): Promise<void> {
  const src = parsePod(from, '--from');
  const dstMatch = /^(.+):(\d{1,5})$/.exec(to);
  if (dstMatch === null) throw new AmbitError('BAD_ARGS', `--to must be NAMESPACE/POD:PORT, got ${JSON.stringify(to)}`);
  const dst = parsePod(dstMatch[1] ?? '', '--to');
  const port = Number(dstMatch[2]);
  if (port < 1 || port > 65535) throw new AmbitError('BAD_ARGS', `--to port must be 1-65535, got ${port}`);
  const model = await fetchModel(ctx, kubeconfig);
  const workloads = model.workloads as unknown as Workload[];
  const authorizations = model.authorizations as unknown as Authorization[];
  const find = (p: { namespace: string; name: string }, flag: string): Workload => {
    const w = workloads.find((x) => x.namespace === p.namespace && x.name === p.name);
    if (w === undefined) throw new AmbitError('NOT_FOUND', `${flag}: no pod ${p.namespace}/${p.name} in the mesh model`);
    return w;
  };
  const source = find(src, '--from');
  const target = find(dst, '--to');
  const byKey = new Map(authorizations.map((a) => [`${a.namespace}/${a.name}`, a]));
  const policies = policiesInScope(target, authorizations, (k) => byKey.get(k), ROOT_NAMESPACE);
  const mtls = source.tunnelProtocol === 'HBONE';
  const conn = {
    sourceIdentity: mtls ? spiffeId(source.trustDomain, source.namespace, source.serviceAccount) : undefined,
    sourceIp: source.addresses[0] ?? '',
    destinationIp: target.addresses[0] ?? '',
    destinationPort: port,
  };
  const ex = explain(policies, conn);
  if (output === 'json') {
    ctx.out.write(`${JSON.stringify({ connection: conn, inMesh: target.tunnelProtocol === 'HBONE', ...ex }, null, 2)}\n`);
    return;
  }
  if (output !== undefined) throw new AmbitError('BAD_ARGS', `unknown output format "${output}" (use -o json)`);
  const lines: string[] = [];
  const verdict = ex.decision.allow ? 'ALLOW' : 'DENY';
  lines.push(`${verdict}: ${from} → ${to} — ${ex.decision.reason}`);
  lines.push(`  source:      ${conn.sourceIdentity ?? '(plaintext: not in the mesh, no identity)'} at ${conn.sourceIp}`);
  lines.push(`  destination: ${dst.namespace}/${dst.name} at ${conn.destinationIp}:${port}${mtls ? ` (HBONE to :${HBONE_PORT})` : ''}`);
  if (target.tunnelProtocol !== 'HBONE')
    lines.push('  note: the destination is not in the mesh; no ztunnel enforces these policies for it');
  if (ex.decision.dryRun !== undefined) {
    lines.push(
      `  dry run: with dry-run policies enforced it would be ${ex.decision.dryRun.allow ? 'ALLOW' : 'DENY'}${ex.decision.dryRun.policy === undefined ? '' : ` (${ex.decision.dryRun.policy})`}`,
    );
  }
  lines.push(policies.length === 0 ? '  no policy applies to the destination' : `  policies in scope (${policies.length}):`);
  for (const p of ex.policies) lines.push(...policyLines(p, ex.decision.policy));
  ctx.out.write(`${lines.join('\n')}\n`);
}

function policyLines(p: PolicyExplanation, decidedBy: string | undefined): string[] {
  const head = `    ${p.action.padEnd(5)} ${p.policy} [${p.scope}${p.dryRun ? ', dry-run' : ''}]`;
  if (p.matchedRule !== undefined) return [`${head}: matched by rules[${p.matchedRule}]${p.policy === decidedBy ? ' — decided' : ''}`];
  return [`${head}: no match`, ...p.why.map((w) => `        ${w}`)];
}

function parsePod(text: string, flag: string): { namespace: string; name: string } {
  const parts = text.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
    throw new AmbitError('BAD_ARGS', `${flag} must be NAMESPACE/POD, got ${JSON.stringify(text)}`);
  return { namespace: parts[0] ?? '', name: parts[1] ?? '' };
}
