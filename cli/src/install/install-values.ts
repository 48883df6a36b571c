// `ambitctl install --set key=value`: a small, fixed set of settings applied to the objects kustomize rendered, so the
// common changes need no overlay of one's own (anything else: write an overlay on top of deploy/overlays/cluster and
// pass it with --overlay PATH). Each key says which objects and fields it changes.
import { AmbitError, isRecord } from '@ambit/core';

/** One `--set` key: what it means (for --help and errors) and how its value is checked. */
interface ValueSpec {
  readonly help: string;
  readonly parse: (raw: string) => string | number;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const ABSOLUTE = /^\/[^\0\n]*$/;

const oneOf =
  (re: RegExp, what: string) =>
  (raw: string): string => {
    if (!re.test(raw)) throw new Error(what);
    return raw;
  };

export const VALUE_SPECS = {
  'image.repository': {
    help: 'image of every Ambit container and of waypoints (default ghcr.io/ambit-dev/ambit), e.g. a mirror',
    parse: oneOf(REPOSITORY, 'must be an image repository without tag, e.g. registry.example.com/ambit'),
  },
  'image.tag': { help: 'the release to run (default the overlay’s: this release)', parse: oneOf(TAG, 'must be an image tag') },
  logLevel: {
    help: `log level of the controller, node agents and ztunnels: ${LEVELS.join('|')} (default info)`,
    parse: (raw) => {
      if (!LEVELS.includes(raw)) throw new Error(`must be one of ${LEVELS.join(', ')}`);
      return raw;
    },
  },
  'controller.replicas': {
    help: 'controller replicas (default 2; 1 also drops the PodDisruptionBudget, which would block every node drain)',
    parse: (raw) => {
      const n = Number(raw);
      if (!/^[0-9]+$/.test(raw) || n < 1 || n > 100) throw new Error('must be an integer 1…100');
      return n;
    },
  },
  'cni.binDir': {
    help: 'the nodes’ CNI plugin directory (default /opt/cni/bin; k3s: /var/lib/rancher/k3s/data/cni)',
    parse: oneOf(ABSOLUTE, 'must be an absolute path'),
  },
  'cni.confDir': {
    help: 'the nodes’ CNI config directory (default /etc/cni/net.d; k3s: /var/lib/rancher/k3s/agent/etc/cni/net.d)',
    parse: oneOf(ABSOLUTE, 'must be an absolute path'),
  },
  'cni.hostPathPrefix': {
    help: 'where a node’s hostPath volumes are, as its container runtime sees them (default none: where the node has them)',
    parse: oneOf(ABSOLUTE, 'must be an absolute path'),
  },
} as const satisfies Record<string, ValueSpec>;

export type ValueKey = keyof typeof VALUE_SPECS;
export type InstallValues = Partial<Record<ValueKey, string | number>>;

/** Parses the `--set` arguments; an unknown key or a bad value is a BAD_ARGS error naming it. */
export function parseSetValues(sets: readonly string[]): InstallValues {
  const values: Partial<Record<string, string | number>> = {};
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) throw new AmbitError('BAD_ARGS', `--set ${JSON.stringify(set)}: expected key=value`);
    const key = set.slice(0, eq);
    const raw = set.slice(eq + 1);
    if (!isValueKey(key)) {
      throw new AmbitError('BAD_ARGS', `--set ${key}: unknown key; known keys: ${Object.keys(VALUE_SPECS).join(', ')}`);
    }
    try {
      values[key] = VALUE_SPECS[key].parse(raw);
    } catch (err) {
      throw new AmbitError('BAD_ARGS', `--set ${key}=${raw}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return values;
}

function isValueKey(key: string): key is ValueKey {
  return Object.hasOwn(VALUE_SPECS, key);
}

/** The repository every Ambit image of deploy/ names; `image.repository` replaces it. */
export const AMBIT_IMAGE_REPOSITORY = 'ghcr.io/ambit-dev/ambit';
const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
/** The node agent's socket directory (deploy/base/node-agent.yaml: hostPath /var/run/ambit at the same path). */
const AGENT_SOCKET = '/var/run/ambit/agent.sock';

type Obj = Record<string, unknown>;

/**
 * The rendered objects with the values applied (new objects; the input is not changed). Objects a value does not
 * concern are returned as they were.
 */
export function applyValues(objects: readonly Obj[], values: InstallValues): Obj[] {
  let out = objects.map((o) => structuredClone(o));
  const repo = values['image.repository'];
  const tag = values['image.tag'];
  if (repo !== undefined || tag !== undefined) {
    const retag = (image: string): string => {
      const { repository, tag: old } = splitImage(image);
      if (repository !== AMBIT_IMAGE_REPOSITORY) return image;
      return `${String(repo ?? repository)}:${String(tag ?? old ?? 'latest')}`;
    };
    for (const c of containers(out)) {
      if (typeof c['image'] === 'string') c['image'] = retag(c['image']);
      // The controller's --waypoint-image: waypoints run the same release as the controller.
      if (Array.isArray(c['args']))
        c['args'] = c['args'].map((a: unknown) =>
          typeof a === 'string' && a.startsWith('--waypoint-image=') ? `--waypoint-image=${retag(a.slice('--waypoint-image='.length))}` : a,
        );
    }
  }
  const level = values.logLevel;
  if (level !== undefined) {
    for (const c of containers(out)) {
      const env = Array.isArray(c['env']) ? (c['env'] as unknown[]) : [];
      for (const e of env) if (isRecord(e) && e['name'] === 'AMBIT_LOG_LEVEL') e['value'] = String(level);
      if (isNodeAgent(c)) setFlag(c, '--log-level', String(level));
    }
  }
  const replicas = values['controller.replicas'];
  if (replicas !== undefined) {
    for (const o of out)
      if (o['kind'] === 'Deployment' && name(o) === 'ambit-controller' && isRecord(o['spec'])) o['spec']['replicas'] = replicas;
    if (replicas === 1) out = out.filter((o) => !(o['kind'] === 'PodDisruptionBudget' && name(o) === 'ambit-controller'));
  }
  const binDir = values['cni.binDir'];
  const confDir = values['cni.confDir'];
  const prefix = values['cni.hostPathPrefix'];
  if (binDir !== undefined || confDir !== undefined || prefix !== undefined) {
    for (const o of out) {
      if (o['kind'] !== 'DaemonSet' || name(o) !== 'ambit-node-agent') continue;
      const spec = podSpec(o);
      const volumes = Array.isArray(spec?.['volumes']) ? (spec['volumes'] as unknown[]) : [];
      for (const v of volumes) {
        if (!isRecord(v) || !isRecord(v['hostPath'])) continue;
        if (v['name'] === 'cni-bin' && binDir !== undefined) v['hostPath']['path'] = binDir;
        if (v['name'] === 'cni-net' && confDir !== undefined) v['hostPath']['path'] = confDir;
      }
      for (const c of containers([o])) {
        if (!isNodeAgent(c)) continue;
        const p = prefix === undefined ? '' : String(prefix);
        if (confDir !== undefined || prefix !== undefined)
          setFlag(c, '--host-cni-conf-dir', `${p}${String(confDir ?? DEFAULT_CNI_CONF_DIR)}`);
        if (prefix !== undefined) setFlag(c, '--host-cni-socket', `${p}${AGENT_SOCKET}`);
      }
    }
  }
  return out;
}

/** `repo[:tag][@digest]` → repository and tag (a registry port is not a tag). */
export function splitImage(image: string): { repository: string; tag?: string } {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > slash) return { repository: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { repository: noDigest };
}

function name(o: Obj): unknown {
  return isRecord(o['metadata']) ? o['metadata']['name'] : undefined;
}

function podSpec(o: Obj): Obj | undefined {
  const spec = o['spec'];
  if (!isRecord(spec)) return undefined;
  const template = spec['template'];
  return isRecord(template) && isRecord(template['spec']) ? template['spec'] : undefined;
}

/** Containers (and init containers) of every workload's pod template. */
function containers(objects: readonly Obj[]): Obj[] {
  return objects.flatMap((o) => {
    const spec = podSpec(o);
    if (spec === undefined) return [];
    return [
      ...(Array.isArray(spec['initContainers']) ? spec['initContainers'] : []),
      ...(Array.isArray(spec['containers']) ? spec['containers'] : []),
    ].filter(isRecord);
  });
}

function isNodeAgent(c: Obj): boolean {
  return Array.isArray(c['args']) && c['args'][0] === 'node-agent';
}

/** Sets `--flag=value` in the container's args, replacing an earlier one. */
function setFlag(c: Obj, flag: string, value: string): void {
  const args = Array.isArray(c['args']) ? (c['args'] as unknown[]) : [];
  c['args'] = [...args.filter((a) => !(typeof a === 'string' && (a === flag || a.startsWith(`${flag}=`)))), `${flag}=${value}`];
}
