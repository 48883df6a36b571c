import { spiffeId, type GatewayAddress, type Service, type Workload } from '@ambit/core';
import {
  explainRequest,
  l7RequestFacts,
  l7RequestPath,
  type L7Authorization,
  type L7Decision,
  type L7PolicyExplanation,
} from '@ambit/core/policy';
import type { ModelDump } from '../debug/model.ts';
import type { ExplainRequest } from './explain-args.ts';

/** The waypoint a request goes through, as the explanation names it. */
export interface WaypointHop {
  /** The Gateway (`namespace`/`name`) whose Gateway-targeted policies apply. */
  readonly namespace: string;
  readonly name: string;
  /** Its identity and address as the destination ztunnel sees them (a waypoint pod's, when one is in the model). */
  readonly identity: string;
  readonly ip: string;
  /** `ns/pod` of that waypoint pod, or `ns/name (no pod running)`. */
  readonly podText: string;
}

/** What `ambitctl policy explain` prints for the waypoint hop (and `-o json` under `waypoint`). */
export interface WaypointExplanation {
  readonly gateway: string;
  readonly request: {
    readonly sourceIdentity: string | undefined;
    readonly sourceIp: string;
    readonly remoteIp: string;
    readonly host: string;
    readonly destinationPort: number;
    readonly method: string;
    readonly path: string;
    readonly headers: Readonly<Record<string, string>>;
  };
  readonly decision: L7Decision;
  readonly policies: readonly L7PolicyExplanation[];
}

/**
 * The waypoint that serves a destination (its `waypoint`), or undefined when none does. The controller names a
 * waypoint by its Service's hostname (`<gateway>.<namespace>.svc.…`) or address; its pods back that Service and run
 * as the ServiceAccount named after the Gateway.
 */
export function waypointInPath(
  w: GatewayAddress | undefined,
  workloads: readonly Workload[],
  services: readonly Service[],
): WaypointHop | undefined {
  if (w === undefined) return undefined;
  const d = w.destination;
  const wpService =
    d.kind === 'hostname'
      ? services.find((s) => s.namespace === d.namespace && s.hostname === d.hostname)
      : services.find((s) => s.addresses.some((a) => a.address === d.address));
  const namespace = d.kind === 'hostname' ? d.namespace : (wpService?.namespace ?? '');
  const name = d.kind === 'hostname' ? (d.hostname.split('.')[0] ?? d.hostname) : (wpService?.name ?? d.address);
  const key = wpService === undefined ? undefined : `${wpService.namespace}/${wpService.hostname}`;
  const pod = key === undefined ? undefined : workloads.find((x) => x.services[key] !== undefined);
  if (pod === undefined) {
    return {
      namespace,
      name,
      identity: spiffeId(trustDomainOf(workloads), namespace, name),
      ip: '',
      podText: `${namespace}/${name} (no pod running)`,
    };
  }
  return {
    namespace,
    name,
    identity: spiffeId(pod.trustDomain, pod.namespace, pod.serviceAccount),
    ip: pod.addresses[0] ?? '',
    podText: `${pod.namespace}/${pod.name}`,
  };
}

function trustDomainOf(workloads: readonly Workload[]): string {
  return workloads[0]?.trustDomain ?? 'cluster.local';
}

/**
 * The waypoint's L7 decision for `request` from the source, over the policies it would apply: those targeting its
 * Gateway and those targeting the addressed Service (what the waypoint's store hands its request path), evaluated by
 * core's explainRequest — the function the waypoint's authorizeRequest shares its matching with.
 */
export function explainAtWaypoint(
  model: ModelDump,
  waypoint: WaypointHop,
  service: Service | undefined,
  port: number,
  request: ExplainRequest,
  source: { readonly sourceIdentity: string | undefined; readonly sourceIp: string; readonly defaultHost: string },
): WaypointExplanation {
  const all = (model.l7Authorizations ?? []) as unknown as L7Authorization[];
  const policies = all
    .filter((p) =>
      p.targets.some((t) =>
        t.kind === 'Gateway'
          ? t.namespace === waypoint.namespace && t.name === waypoint.name
          : service !== undefined && t.namespace === service.namespace && t.hostname === service.hostname,
      ),
    )
    .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  const firstHop = request.headers['x-forwarded-for']?.split(',')[0]?.trim();
  const facts = {
    sourceIdentity: source.sourceIdentity,
    sourceIp: source.sourceIp,
    remoteIp: firstHop === undefined || firstHop === '' ? source.sourceIp : firstHop,
    host: request.headers['host'] ?? source.defaultHost,
    destinationPort: port,
    method: request.method,
    path: l7RequestPath(request.path),
    sni: undefined,
  };
  const ex = explainRequest(policies, l7RequestFacts({ ...facts, headers: request.headers }));
  return {
    gateway: `${waypoint.namespace}/${waypoint.name}`,
    request: { ...facts, headers: request.headers },
    decision: ex.decision,
    policies: ex.policies,
  };
}
