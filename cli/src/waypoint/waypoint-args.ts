import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AmbitError } from '@ambit/core';
import { DEFAULT_WAYPOINT_NAME, TRAFFIC_TYPES, type TrafficType } from './waypoint-gateway.ts';

/**
 * `ambitctl waypoint <verb>` arguments, with istioctl's verbs and flags (`istioctl waypoint apply|generate|list|status|
 * delete`). One difference: `--name` is the waypoint's name, as in istioctl, so the local cluster is chosen with
 * `--cluster` (or $AMBIT_CLUSTER) here.
 */

/** How long `--wait` waits for Programmed=True unless `--waypoint-timeout` says otherwise (istioctl: 90 s). */
export const DEFAULT_WAIT_MS = 90_000;

/** Which API the command talks to: a kubeconfig's cluster, or the local cluster (by name). */
export interface ApiTarget {
  readonly kubeconfig: string | undefined;
  readonly cluster: string | undefined;
}

interface Common {
  /** `-n`; undefined = the kubeconfig context's namespace, else `default`. */
  readonly namespace: string | undefined;
  readonly target: ApiTarget;
}

export type WaypointCommand =
  | (Common & {
      readonly verb: 'apply';
      readonly name: string;
      readonly trafficType: TrafficType | undefined;
      readonly enrollNamespace: boolean;
      readonly overwrite: boolean;
      readonly wait: boolean;
      readonly timeoutMs: number;
      /** Accepted for istioctl compatibility; Ambit has no control-plane revisions, so it is not applied. */
      readonly revision: string | undefined;
    })
  | (Common & { readonly verb: 'generate'; readonly name: string; readonly trafficType: TrafficType | undefined })
  | (Common & { readonly verb: 'list'; readonly allNamespaces: boolean })
  /** `name` undefined: every waypoint of the namespace (istioctl); set when --name was given. */
  | (Common & { readonly verb: 'status'; readonly name: string | undefined; readonly wait: boolean; readonly timeoutMs: number })
  | (Common & { readonly verb: 'delete'; readonly names: readonly string[]; readonly all: boolean })
  | { readonly verb: 'help'; readonly topic: string | undefined };

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  namespace: { type: 'string', short: 'n' },
  name: { type: 'string' },
  kubeconfig: { type: 'string' },
  cluster: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const VERBS: Record<string, Options> = {
  apply: {
    for: { type: 'string' },
    'enroll-namespace': { type: 'boolean' },
    overwrite: { type: 'boolean' },
    wait: { type: 'boolean', short: 'w' },
    revision: { type: 'string', short: 'r' },
    'waypoint-timeout': { type: 'string' },
  },
  generate: { for: { type: 'string' } },
  list: { 'all-namespaces': { type: 'boolean', short: 'A' } },
  status: { wait: { type: 'boolean', short: 'w' }, 'waypoint-timeout': { type: 'string' } },
  delete: { all: { type: 'boolean' } },
};

export function parseWaypointArgs(argv: readonly string[]): WaypointCommand {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') return { verb: 'help', topic: undefined };
  const spec = VERBS[verb];
  if (spec === undefined)
    throw new AmbitError('BAD_ARGS', `unknown command "waypoint ${verb}" (choose apply, generate, list, status or delete)`);
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options: { ...COMMON, ...spec }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new AmbitError('BAD_ARGS', `waypoint ${verb}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { values, positionals } = parsed;
  if (values['help'] === true) return { verb: 'help', topic: verb };
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const flag = (k: string): boolean => values[k] === true;
  if (verb !== 'delete' && positionals.length > 0)
    throw new AmbitError('BAD_ARGS', `waypoint ${verb}: unexpected argument "${positionals[0]}"`);
  const namespace = str('namespace');
  if (namespace === '') throw new AmbitError('BAD_ARGS', `waypoint ${verb}: --namespace must not be empty`);
  const common: Common = { namespace, target: { kubeconfig: str('kubeconfig'), cluster: str('cluster') } };
  switch (verb) {
    case 'apply':
      return {
        ...common,
        verb,
        name: waypointName(str('name')),
        trafficType: trafficType(str('for')),
        enrollNamespace: flag('enroll-namespace'),
        overwrite: flag('overwrite'),
        wait: flag('wait'),
        timeoutMs: timeout(str('waypoint-timeout')),
        revision: str('revision'),
      };
    case 'generate':
      return { ...common, verb, name: waypointName(str('name')), trafficType: trafficType(str('for')) };
    case 'list':
      if (flag('all-namespaces') && namespace !== undefined)
        throw new AmbitError('BAD_ARGS', 'waypoint list: give either -A or -n, not both');
      return { ...common, verb, allNamespaces: flag('all-namespaces') };
    case 'status': {
      const name = str('name');
      return {
        ...common,
        verb,
        name: name === undefined ? undefined : waypointName(name),
        wait: flag('wait'),
        timeoutMs: timeout(str('waypoint-timeout')),
      };
    }
    default: {
      // delete, istioctl's rules: names or --all, never both.
      const all = flag('all');
      if (all && positionals.length > 0) throw new AmbitError('BAD_ARGS', 'waypoint delete: cannot name waypoints together with --all');
      if (!all && positionals.length === 0)
        throw new AmbitError('BAD_ARGS', 'waypoint delete: name a waypoint, or delete them all with --all');
      for (const n of positionals) checkName(n);
      return { ...common, verb: 'delete', names: positionals, all };
    }
  }
}

/** An empty name means the default (istioctl); `none` is reserved (it is how `istio.io/use-waypoint` opts out). */
function waypointName(v: string | undefined): string {
  if (v === undefined || v === '') return DEFAULT_WAYPOINT_NAME;
  if (v === 'none') throw new AmbitError('BAD_ARGS', "invalid name provided for waypoint, 'none' is a reserved value");
  checkName(v);
  return v;
}

/** A Gateway name is a DNS-1123 subdomain; checked here so a typo fails before any request. */
function checkName(v: string): void {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v)) {
    throw new AmbitError('BAD_ARGS', `"${v}" is not a valid waypoint name (lower-case letters, digits, '-' and '.')`);
  }
}

function trafficType(v: string | undefined): TrafficType | undefined {
  if (v === undefined) return undefined;
  const t = TRAFFIC_TYPES.find((x) => x === v);
  if (t === undefined) throw new AmbitError('BAD_ARGS', `invalid traffic type: ${v}. Valid options are: [${TRAFFIC_TYPES.join(' ')}]`);
  return t;
}

function timeout(v: string | undefined): number {
  if (v === undefined) return DEFAULT_WAIT_MS;
  const ms = parseDurationMs(v);
  if (ms === undefined || ms <= 0)
    throw new AmbitError('BAD_ARGS', `--waypoint-timeout: "${v}" is not a positive duration (e.g. 90s, 2m, 1m30s)`);
  return ms;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration as istioctl's flags take it (`90s`, `1m30s`, `500ms`); undefined when it is not one. */
export function parseDurationMs(v: string): number | undefined {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(v) ? v.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null;
  if (parts === null) return undefined;
  let total = 0;
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(p);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}
