import { AmbitError, HBONE_PORT, ROOT_NAMESPACE, spiffeId, type Authorization, type Service, type Workload } from '@ambit/core';
import { explain, policiesInScope, type ConnectionFacts, type Explanation, type PolicyExplanation } from '@ambit/core/policy';
import { fetchModel, type ModelDump } from '../debug/model.ts';
import type { LocalContext } from '../local/context.ts';
import type { ExplainArgs } from './explain-args.ts';
import { explainAtWaypoint, waypointInPath, type WaypointExplanation } from './explain-waypoint.ts';

/**
 * `ambitctl policy explain --from NS/POD --to NS/POD:PORT | NS/svc/SERVICE:PORT [--method M --path P --header K=V]`:
 * evaluates, against the controller's current model and with the proxies' own code, what decides a request:
 * - when a waypoint serves the destination, the L7 AuthorizationPolicies it enforces (core's explainRequest, which the
 *   waypoint runs per request), for the source pod's identity and the request given;
 * - the L4 authorization at the destination's ztunnel (core's explain, which ztunnel runs), where the source is the
 *   waypoint when one is in the path (waypoints do not impersonate the caller).
 * Each says which policy and rule decided and why each other policy did not match.
 */
export async function policyExplain(ctx: LocalContext, args: ExplainArgs): Promise<void> {
  const model = await fetchModel(ctx, args.kubeconfig);
  ctx.out.write(renderExplain(model, args));
}

/** The explanation as printed (text or `-o json`), from a model. */
export function renderExplain(model: ModelDump, args: ExplainArgs): string {
  const workloads = model.workloads as unknown as Workload[];
  const services = model.services as unknown as Service[];
  const find = (p: { namespace: string; name: string }, flag: string): Workload => {
    const w = workloads.find((x) => x.namespace === p.namespace && x.name === p.name);
    if (w === undefined) throw new AmbitError('NOT_FOUND', `${flag}: no pod ${p.namespace}/${p.name} in the mesh model`);
    return w;
  };
  const source = find(args.from, '--from');
  const dest = resolveTarget(args, workloads, services, find);
  const mtls = source.tunnelProtocol === 'HBONE';
  const sourceIdentity = mtls ? spiffeId(source.trustDomain, source.namespace, source.serviceAccount) : undefined;
  const waypoint = waypointInPath(dest.waypoint, workloads, services);
  const l7 =
    waypoint === undefined
      ? undefined
      : explainAtWaypoint(model, waypoint, dest.service, dest.addressedPort, args.request, {
          sourceIdentity,
          sourceIp: source.addresses[0] ?? '',
          defaultHost: dest.defaultHost,
        });

  // The L4 hop at the destination ztunnel: from the waypoint when one is in the path, else from the source pod.
  const l4 =
    dest.endpoint === undefined
      ? undefined
      : l4Explanation(model, dest.endpoint, dest.endpointPort, {
          sourceIdentity: waypoint === undefined ? sourceIdentity : waypoint.identity,
          sourceIp: waypoint === undefined ? (source.addresses[0] ?? '') : waypoint.ip,
        });

  if (args.output === 'json') {
    // The L4 part keeps the shape it had before waypoints were explained; the waypoint's is added beside it.
    const json = {
      ...(l7 === undefined ? {} : { waypoint: l7 }),
      ...(l4 === undefined ? {} : { connection: l4.conn, inMesh: dest.endpoint?.tunnelProtocol === 'HBONE', ...l4.ex }),
    };
    return `${JSON.stringify(json, null, 2)}\n`;
  }

  const lines: string[] = [];
  if (l7 !== undefined) lines.push(...l7Lines(l7, args));
  if (l4 === undefined) {
    lines.push(`  no endpoint of ${args.toText}: no ztunnel decision to explain`);
    return `${lines.join('\n')}\n`;
  }
  const endpoint = dest.endpoint;
  if (endpoint === undefined) return `${lines.join('\n')}\n`;
  const verdict = l4.ex.decision.allow ? 'ALLOW' : 'DENY';
  const endpointText = `${endpoint.namespace}/${endpoint.name}:${dest.endpointPort}`;
  if (waypoint === undefined && args.to.kind === 'pod') {
    // The L4-only form, unchanged since before waypoints were explained.
    lines.push(`${verdict}: ${args.fromText} → ${args.toText} — ${l4.ex.decision.reason}`);
  } else if (waypoint === undefined) {
    lines.push(`${verdict}: ${args.fromText} → ${args.toText} (endpoint ${endpointText}) — ${l4.ex.decision.reason}`);
  } else {
    lines.push(
      `${verdict} (ztunnel of ${endpoint.namespace}/${endpoint.name}): waypoint ${waypoint.podText} → ${endpointText} — ${l4.ex.decision.reason}`,
    );
  }
  lines.push(
    `  source:      ${l4.conn.sourceIdentity ?? '(plaintext: not in the mesh, no identity)'} at ${l4.conn.sourceIp || '(unknown)'}`,
  );
  const tunneled = waypoint !== undefined || mtls;
  lines.push(
    `  destination: ${endpoint.namespace}/${endpoint.name} at ${l4.conn.destinationIp}:${dest.endpointPort}${tunneled ? ` (HBONE to :${HBONE_PORT})` : ''}`,
  );
  if (endpoint.tunnelProtocol !== 'HBONE')
    lines.push('  note: the destination is not in the mesh; no ztunnel enforces these policies for it');
  if (l4.ex.decision.dryRun !== undefined) {
    const d = l4.ex.decision.dryRun;
    lines.push(
      `  dry run: with dry-run policies enforced it would be ${d.allow ? 'ALLOW' : 'DENY'}${d.policy === undefined ? '' : ` (${d.policy})`}`,
    );
  }
  lines.push(l4.policies.length === 0 ? '  no policy applies to the destination' : `  policies in scope (${l4.policies.length}):`);
  for (const p of l4.ex.policies) lines.push(...policyLines(p, l4.ex.decision.policy));
  return `${lines.join('\n')}\n`;
}

interface ResolvedTarget {
  /** The `waypoint` of what was addressed (the Service, or the pod). */
  readonly waypoint: Workload['waypoint'];
  /** The Service addressed, or the one the addressed pod backs on that port (its Service-targeted policies apply). */
  readonly service: Service | undefined;
  /** The port the request is addressed to (`destination.port`): the Service port. */
  readonly addressedPort: number;
  /** The pod whose ztunnel makes the L4 decision, and the port it listens on. */
  readonly endpoint: Workload | undefined;
  readonly endpointPort: number;
  /** `Host` when no `--header host=` is given: the Service's hostname, or the pod's IP and port. */
  readonly defaultHost: string;
}

function resolveTarget(
  args: ExplainArgs,
  workloads: readonly Workload[],
  services: readonly Service[],
  find: (p: { namespace: string; name: string }, flag: string) => Workload,
): ResolvedTarget {
  const to = args.to;
  if (to.kind === 'pod') {
    const pod = find(to, '--to');
    // As the waypoint resolves a pod address: the Service whose target port this is gives the Service port.
    for (const [key, mappings] of Object.entries(pod.services)) {
      const m = mappings.find((x) => x.targetPort === to.port);
      if (m === undefined) continue;
      const service = services.find((s) => `${s.namespace}/${s.hostname}` === key);
      return {
        waypoint: pod.waypoint,
        service,
        addressedPort: m.servicePort,
        endpoint: pod,
        endpointPort: to.port,
        defaultHost: `${pod.addresses[0] ?? ''}:${to.port}`,
      };
    }
    return {
      waypoint: pod.waypoint,
      service: undefined,
      addressedPort: to.port,
      endpoint: pod,
      endpointPort: to.port,
      defaultHost: `${pod.addresses[0] ?? ''}:${to.port}`,
    };
  }
  const service = services.find((s) => s.namespace === to.namespace && s.name === to.name);
  if (service === undefined) throw new AmbitError('NOT_FOUND', `--to: no Service ${to.namespace}/${to.name} in the mesh model`);
  if (!service.ports.some((p) => p.servicePort === to.port)) {
    const ports = service.ports.map((p) => p.servicePort).join(', ');
    throw new AmbitError('NOT_FOUND', `--to: Service ${to.namespace}/${to.name} has no port ${to.port} (ports: ${ports})`);
  }
  const key = `${service.namespace}/${service.hostname}`;
  // The endpoint the L4 decision is explained for: the first ready pod (every endpoint gets the same policies unless
  // selector policies tell them apart; name one with --to NAMESPACE/POD:PORT to check it).
  const backing = workloads
    .flatMap((w) => {
      const m = w.services[key]?.find((x) => x.servicePort === to.port);
      return m === undefined ? [] : [{ w, port: m.targetPort }];
    })
    .sort((a, b) => Number(b.w.status === 'HEALTHY') - Number(a.w.status === 'HEALTHY'));
  const first = backing[0];
  return {
    waypoint: service.waypoint,
    service,
    addressedPort: to.port,
    endpoint: first?.w,
    endpointPort: first?.port ?? 0,
    defaultHost: service.hostname,
  };
}

function l4Explanation(
  model: ModelDump,
  target: Workload,
  port: number,
  from: { sourceIdentity: string | undefined; sourceIp: string },
): { conn: ConnectionFacts; ex: Explanation; policies: readonly Authorization[] } {
  const authorizations = model.authorizations as unknown as Authorization[];
  const byKey = new Map(authorizations.map((a) => [`${a.namespace}/${a.name}`, a]));
  const policies = policiesInScope(target, authorizations, (k) => byKey.get(k), ROOT_NAMESPACE);
  const conn: ConnectionFacts = { ...from, destinationIp: target.addresses[0] ?? '', destinationPort: port };
  return { conn, ex: explain(policies, conn), policies };
}

function l7Lines(l7: WaypointExplanation, args: ExplainArgs): string[] {
  const d = l7.decision;
  const lines = [`${d.allow ? 'ALLOW' : 'DENY'} (waypoint ${l7.gateway}): ${l7.request.method} ${l7.request.path} — ${d.reason}`];
  lines.push(`  source:      ${l7.request.sourceIdentity ?? '(plaintext: not in the mesh, no identity)'} at ${l7.request.sourceIp}`);
  const headers = Object.entries(args.request.headers).map(([k, v]) => `${k}: ${v}`);
  lines.push(
    `  request:     ${l7.request.method} ${l7.request.path}, host ${l7.request.host}, port ${l7.request.destinationPort}` +
      (headers.length === 0 ? '' : `, headers ${headers.join('; ')}`),
  );
  if (d.dryRun !== undefined) {
    lines.push(
      `  dry run: with dry-run policies enforced it would be ${d.dryRun.allow ? 'ALLOW' : 'DENY'}${d.dryRun.policy === undefined ? '' : ` (${d.dryRun.policy})`}`,
    );
  }
  lines.push(
    l7.policies.length === 0 ? '  no L7 policy applies at the waypoint' : `  L7 policies at the waypoint (${l7.policies.length}):`,
  );
  for (const p of l7.policies) {
    const head = `    ${p.action.padEnd(5)} ${p.policy} [${p.targets.join(', ')}${p.dryRun ? ', dry-run' : ''}]`;
    if (p.matchedRule !== undefined) lines.push(`${head}: matched by rules[${p.matchedRule}]${p.policy === d.policy ? ' — decided' : ''}`);
    else lines.push(`${head}: no match`, ...p.why.map((w) => `        ${w}`));
  }
  if (!d.allow) lines.push(`  the waypoint answers 403 "RBAC: access denied"; the request goes no further`);
  return lines;
}

function policyLines(p: PolicyExplanation, decidedBy: string | undefined): string[] {
  const head = `    ${p.action.padEnd(5)} ${p.policy} [${p.scope}${p.dryRun ? ', dry-run' : ''}]`;
  if (p.matchedRule !== undefined) return [`${head}: matched by rules[${p.matchedRule}]${p.policy === decidedBy ? ' — decided' : ''}`];
  return [`${head}: no match`, ...p.why.map((w) => `        ${w}`)];
}
