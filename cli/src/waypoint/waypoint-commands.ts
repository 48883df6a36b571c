import { AmbitError, asRecord } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';
import { stringify } from 'yaml';
import { formatTable } from '../table.ts';
import type { WaypointCommand } from './waypoint-args.ts';
import {
  conditionsOf,
  DATAPLANE_MODE_LABEL,
  describeConditions,
  gatewaysPath,
  isProgrammed,
  isWaypoint,
  programmed,
  updatedWaypointGateway,
  USE_WAYPOINT_LABEL,
  waypointGateway,
  waypointRow,
  waypointsOf,
  type KubeObject,
} from './waypoint-gateway.ts';

/** What the waypoint verbs need: an API client, the namespace when -n is not given, and where to write. */
export interface WaypointIo {
  readonly api: Pick<KubeClient, 'request'>;
  /** The kubeconfig context's namespace, else `default`. */
  readonly defaultNamespace: string;
  readonly out: NodeJS.WritableStream;
  /** Warnings and --wait progress. */
  readonly err: NodeJS.WritableStream;
  /** How often --wait reads the Gateway, ms; default 500. */
  readonly pollMs?: number;
}

type Verb<V extends WaypointCommand['verb']> = Extract<WaypointCommand, { verb: V }>;

const CRDS_MISSING = 'the Kubernetes Gateway API CRDs must be installed before applying a waypoint';

/** `waypoint apply`: create or update the Gateway, optionally wait for Programmed=True, optionally enrol the namespace. */
export async function applyWaypoint(io: WaypointIo, cmd: Verb<'apply'>): Promise<number> {
  const ns = cmd.namespace ?? io.defaultNamespace;
  const nsObj = await getNamespace(io, ns);
  if (cmd.revision !== undefined) io.err.write(`warning: --revision ${cmd.revision} is ignored: Ambit has no control-plane revisions\n`);
  if (cmd.enrollNamespace) {
    const labels = asRecord(asRecord(nsObj['metadata'])['labels']);
    const current = labels[USE_WAYPOINT_LABEL];
    // istioctl stops here without --overwrite; re-applying the waypoint the namespace already uses is not a conflict.
    if (typeof current === 'string' && current !== '' && current !== cmd.name && !cmd.overwrite) {
      io.out.write(
        `⚠️ Warning: namespace (${ns}) already has an enrolled Waypoint (${current}). Consider adding the \`--overwrite\` flag to your apply command.\n`,
      );
      return 0;
    }
    if (labels[DATAPLANE_MODE_LABEL] !== 'ambient') {
      io.out.write(
        `⚠️ Warning: namespace is not enrolled in ambient. Consider running\t\`kubectl label namespace ${ns} ${DATAPLANE_MODE_LABEL}=ambient\`\n`,
      );
    }
  }
  const existing = await getOrUndefined(io, gatewaysPath(ns, cmd.name));
  if (existing === undefined) {
    await crdsNeeded(() => io.api.request('POST', gatewaysPath(ns), waypointGateway(ns, cmd.name, cmd.trafficType)));
  } else {
    if (!isWaypoint(existing)) {
      const cls = String(asRecord(existing['spec'])['gatewayClassName'] ?? '');
      throw new AmbitError(
        'NOT_A_WAYPOINT',
        `Gateway ${ns}/${cmd.name} exists with gatewayClassName "${cls}": it is not a waypoint, so it was left unchanged (choose another --name)`,
      );
    }
    await io.api.request('PUT', gatewaysPath(ns, cmd.name), updatedWaypointGateway(existing, cmd.trafficType));
  }
  io.out.write(`✅ waypoint ${ns}/${cmd.name} applied\n`);
  if (cmd.wait) {
    await waitProgrammed(io, ns, cmd.name, cmd.timeoutMs);
    io.out.write(`✅ waypoint ${ns}/${cmd.name} is ready!\n`);
  }
  if (cmd.enrollNamespace) {
    await labelNamespace(io, ns, cmd.name);
    io.out.write(`✅ namespace ${ns} labeled with "${USE_WAYPOINT_LABEL}: ${cmd.name}"\n`);
  }
  return 0;
}

/** `waypoint generate`: the Gateway apply would create, as YAML; offline, like istioctl's. */
export function generateWaypoint(out: NodeJS.WritableStream, cmd: Verb<'generate'>): number {
  out.write(stringify(waypointGateway(cmd.namespace, cmd.name, cmd.trafficType)));
  return 0;
}

/** `waypoint list [-n NS | -A]`: istioctl's columns. */
export async function listWaypoints(io: WaypointIo, cmd: Verb<'list'>): Promise<number> {
  const ns = cmd.allNamespaces ? undefined : (cmd.namespace ?? io.defaultNamespace);
  if (ns !== undefined) await getNamespace(io, ns);
  const list = await crdsNeeded(() => io.api.request<{ items?: KubeObject[] }>('GET', gatewaysPath(ns)));
  const rows = waypointsOf(list.items ?? []).map(waypointRow);
  if (rows.length === 0) {
    io.out.write('No waypoints found.\n');
    return 0;
  }
  const header = ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'];
  const cells = rows.map((r) => [r.name, r.revision, r.trafficType, r.programmed]);
  io.out.write(
    `${
      cmd.allNamespaces
        ? formatTable(
            ['NAMESPACE', ...header],
            cells.map((c, i) => [rows[i]?.namespace ?? '', ...c]),
          )
        : formatTable(header, cells)
    }\n`,
  );
  return 0;
}

/**
 * `waypoint status [-n NS] [--name N] [--wait]`: the Programmed condition of each waypoint of the namespace (or of
 * the one named). With --wait, waits until every one is programmed, then prints.
 */
export async function waypointStatus(io: WaypointIo, cmd: Verb<'status'>): Promise<number> {
  const ns = cmd.namespace ?? io.defaultNamespace;
  await getNamespace(io, ns);
  let gateways: KubeObject[];
  if (cmd.name !== undefined) {
    const gw = await getOrUndefined(io, gatewaysPath(ns, cmd.name));
    if (gw === undefined || !isWaypoint(gw)) throw new AmbitError('WAYPOINT_NOT_FOUND', `waypoint ${ns}/${cmd.name} not found`);
    gateways = [gw];
  } else {
    const list = await crdsNeeded(() => io.api.request<{ items?: KubeObject[] }>('GET', gatewaysPath(ns)));
    gateways = waypointsOf(list.items ?? []);
  }
  if (gateways.length === 0) {
    io.out.write('No waypoints found.\n');
    return 0;
  }
  if (cmd.wait) {
    const names = gateways.map((g) => String(asRecord(g['metadata'])['name']));
    gateways = [];
    for (const name of names) gateways.push(await waitProgrammed(io, ns, name, cmd.timeoutMs));
  }
  const rows = gateways.map((gw) => {
    const meta = asRecord(gw['metadata']);
    const c = programmed(gw) ?? conditionsOf(gw).at(-1);
    return [String(meta['namespace'] ?? ns), String(meta['name'] ?? ''), c?.status ?? '', c?.type ?? '', c?.reason ?? '', c?.message ?? ''];
  });
  // istioctl shows the namespace column when none was asked for explicitly.
  const withNs = cmd.namespace === undefined;
  const header = ['NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'];
  io.out.write(`${formatTable(withNs ? ['NAMESPACE', ...header] : header, withNs ? rows : rows.map((r) => r.slice(1)))}\n`);
  return 0;
}

/** `waypoint delete NAME… | --all`: names that are not waypoints are reported, as istioctl does, and skipped. */
export async function deleteWaypoints(io: WaypointIo, cmd: Verb<'delete'>): Promise<number> {
  const ns = cmd.namespace ?? io.defaultNamespace;
  await getNamespace(io, ns);
  const list = await crdsNeeded(() => io.api.request<{ items?: KubeObject[] }>('GET', gatewaysPath(ns)));
  const waypoints = new Set(waypointsOf(list.items ?? []).map((g) => String(asRecord(g['metadata'])['name'])));
  const names = cmd.all ? [...waypoints] : cmd.names.filter((n) => waypoints.has(n));
  for (const n of cmd.names) if (!waypoints.has(n)) io.out.write(`waypoint ${ns}/${n} not found\n`);
  if (cmd.all && names.length === 0) io.out.write(`No waypoints found in namespace ${ns}.\n`);
  for (const name of names) {
    try {
      await io.api.request('DELETE', gatewaysPath(ns, name));
      io.out.write(`waypoint ${ns}/${name} deleted\n`);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      io.out.write(`waypoint ${ns}/${name} not found\n`);
    }
  }
  return 0;
}

/**
 * Reads the Gateway until Programmed=True, printing each new state of its conditions (progress) on `err`; after
 * `timeoutMs`, fails with the Gateway's conditions so the user sees why (e.g. no ready pod, or no controller).
 */
async function waitProgrammed(io: WaypointIo, ns: string, name: string, timeoutMs: number): Promise<KubeObject> {
  const started = Date.now();
  let last = '';
  let gw: KubeObject | undefined;
  for (;;) {
    gw = await getOrUndefined(io, gatewaysPath(ns, name));
    if (gw === undefined) throw new AmbitError('WAYPOINT_NOT_FOUND', `waypoint ${ns}/${name} was deleted while waiting for it`);
    if (isProgrammed(gw)) return gw;
    const state = describeConditions(gw);
    if (state !== last) {
      io.err.write(`waiting for waypoint ${ns}/${name} (${Math.round((Date.now() - started) / 1000)}s): ${state}\n`);
      last = state;
    }
    if (Date.now() - started >= timeoutMs) {
      throw new AmbitError(
        'WAIT_TIMEOUT',
        `timed out after ${Math.round(timeoutMs / 1000)}s while waiting for waypoint ${ns}/${name} to be Programmed: ${state}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(io.pollMs ?? 500, Math.max(1, timeoutMs - (Date.now() - started)))));
  }
}

/** Sets `istio.io/use-waypoint` with an update on the version read (one retry if someone else wrote in between). */
async function labelNamespace(io: WaypointIo, ns: string, waypoint: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const obj = await getNamespace(io, ns);
    const meta = asRecord(obj['metadata']);
    const updated = { ...obj, metadata: { ...meta, labels: { ...asRecord(meta['labels']), [USE_WAYPOINT_LABEL]: waypoint } } };
    try {
      await io.api.request('PUT', `/api/v1/namespaces/${encodeURIComponent(ns)}`, updated);
      return;
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409) || attempt > 0) throw err;
    }
  }
}

async function getNamespace(io: WaypointIo, ns: string): Promise<KubeObject> {
  const obj = await getOrUndefined(io, `/api/v1/namespaces/${encodeURIComponent(ns)}`);
  if (obj === undefined) throw new AmbitError('NAMESPACE_NOT_FOUND', `namespace: ${ns} not found`);
  return obj;
}

async function getOrUndefined(io: WaypointIo, path: string): Promise<KubeObject | undefined> {
  try {
    return await io.api.request<KubeObject>('GET', path);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** A 404 on the Gateway collection itself means the API does not serve Gateways: say what to install. */
async function crdsNeeded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404)
      throw new AmbitError('GATEWAY_API_MISSING', `${CRDS_MISSING}: ${err.message}`, { cause: err });
    throw err;
  }
}
