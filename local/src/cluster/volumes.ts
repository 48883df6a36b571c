import { chmodSync, chownSync, closeSync, mkdirSync, openSync, rmSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, asRecord, errorMessage, isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { writeAtomically, type FileOwner, type VolumeFile } from './atomic-writer.ts';
import { downwardFieldValue } from './downward-api.ts';
import type { StoreView } from './store-view.ts';
import type { IssuedToken, TokenIssuer, TokenRequestSpec } from './token-issuer.ts';

/**
 * A pod's volumes on a local node, set up before its sandbox as the kubelet does (volume manager, then SyncPod):
 * `hostPath` (contract 1: the node's "host" is `<stateDir>/nodes/<node>/host`), `emptyDir` and the kubelet-written
 * kinds `configMap`, `secret`, `downwardAPI` and `projected` (with `serviceAccountToken`) under
 * `<stateDir>/pods/<uid>/volumes/<plugin>/<name>` — the layout of /var/lib/kubelet/pods. Containers get them by bind
 * mounts (container-mounts.ts).
 */

export interface VolumeContext {
  /** The cluster's state directory. */
  readonly stateDir: string;
  readonly nodeName: string;
  readonly view: StoreView;
  /** Issues projected ServiceAccount tokens; without one a pod with a `serviceAccountToken` source fails to mount. */
  readonly tokens?: TokenIssuer;
  /** Clock for token refresh; default Date.now. */
  readonly nowMs?: () => number;
}

export interface PodVolume {
  readonly name: string;
  /** Host path of the volume: a directory, or for a hostPath a file/socket as its type says. */
  readonly path: string;
  /** Written by the kubelet (configMap, secret, downwardAPI, projected): containers always get it read-only. */
  readonly kubeletWritten: boolean;
}

export interface PodVolumes {
  readonly volumes: ReadonlyMap<string, PodVolume>;
  /**
   * When to rewrite the kubelet-written volumes, epoch ms: a projected token's 80 % point, at the latest a sync period
   * (60 s) ahead so ConfigMap and Secret changes reach running pods as with a kubelet; undefined: no such volume.
   */
  readonly refreshAtMs: number | undefined;
}

/** `FailedMount`: the message is the kubelet's (`MountVolume.SetUp failed for volume "x" : …`). */
export class VolumeMountError extends AmbitError {
  constructor(
    readonly volume: string,
    detail: string,
  ) {
    super('FAILED_MOUNT', `MountVolume.SetUp failed for volume "${volume}" : ${detail}`);
  }
}

/** The kubelet's pod sync period: how soon a changed ConfigMap or Secret shows in a mounted volume. */
const SYNC_PERIOD_MS = 60_000;

/**
 * Kernel-state directories a hostPath may name that stand for the real host's, not a copy under the state dir:
 * a local node shares the host's kernel, and e.g. `/var/run/netns` must hold the pods' namespace files for a node
 * agent to open them. (Pods of every node are visible there; see README "Limits".)
 */
const SHARED_HOST_DIRS = ['/run/netns', '/var/run/netns', '/proc', '/sys', '/dev'];

/** Contract 1: where hostPath `path` of node `node` is on the real host. */
export function hostPathOnNode(stateDir: string, node: string, path: string): string {
  const clean = join('/', path);
  if (SHARED_HOST_DIRS.some((d) => clean === d || clean.startsWith(`${d}/`))) return clean;
  return join(stateDir, 'nodes', node, 'host', clean);
}

/** The kubelet's per-pod directory (`/var/lib/kubelet/pods/<uid>`). */
export function podDir(stateDir: string, uid: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(uid)) throw new AmbitError('BAD_POD', `bad pod uid "${uid}"`);
  return join(stateDir, 'pods', uid);
}

/** Removes everything the kubelet kept for the pod (emptyDirs, written volumes, staging dirs). */
export function removePodDir(stateDir: string, uid: string): void {
  rmSync(podDir(stateDir, uid), { recursive: true, force: true });
}

/** Sets up (or refreshes: every step is idempotent and rewrites written volumes) all volumes of `pod`. */
export function setUpPodVolumes(pod: KubeObject, ctx: VolumeContext): PodVolumes {
  const spec = asRecord(pod['spec']);
  const dir = podDir(ctx.stateDir, pod.metadata.uid ?? '');
  const volumes = new Map<string, PodVolume>();
  let refreshAtMs: number | undefined;
  const owner = fileOwner(spec);
  for (const item of Array.isArray(spec['volumes']) ? spec['volumes'] : []) {
    if (!isRecord(item) || typeof item['name'] !== 'string') continue;
    const name = item['name'];
    const volDir = (plugin: string): string => join(dir, 'volumes', plugin, name);
    try {
      if (isRecord(item['hostPath'])) {
        volumes.set(name, { name, path: setUpHostPath(ctx, item['hostPath']), kubeletWritten: false });
      } else if (isRecord(item['emptyDir'])) {
        const path = volDir('kubernetes.io~empty-dir');
        mkdirSync(path, { recursive: true });
        // The kubelet's emptyDir is world-writable (0777), so any runAsUser can use it (set explicitly: the umask).
        chmodSync(path, 0o777);
        if (owner !== undefined) chownSync(path, 0, owner.gid);
        volumes.set(name, { name, path, kubeletWritten: false });
      } else {
        const rendered = renderWritten(pod, item, ctx);
        if (rendered === undefined) throw new VolumeMountError(name, 'volume type is not supported by the local kubelet');
        const path = volDir(rendered.plugin);
        writeAtomically(path, rendered.files, owner);
        refreshAtMs = Math.min(refreshAtMs ?? Infinity, rendered.refreshAtMs ?? Infinity, (ctx.nowMs ?? Date.now)() + SYNC_PERIOD_MS);
        volumes.set(name, { name, path, kubeletWritten: true });
      }
    } catch (err) {
      if (err instanceof VolumeMountError) throw err;
      throw new VolumeMountError(name, errorMessage(err));
    }
  }
  return { volumes, refreshAtMs };
}

/** fsGroup owns what the kubelet writes, as its volume ownership management does (group only; uid stays root). */
function fileOwner(spec: Record<string, unknown>): FileOwner | undefined {
  const fsGroup = asRecord(spec['securityContext'])['fsGroup'];
  return typeof fsGroup === 'number' && Number.isInteger(fsGroup) && fsGroup >= 0 ? { uid: 0, gid: fsGroup } : undefined;
}

/** hostPath with the kubelet's `type` checks (pkg/volume/hostpath: "hostPath type check failed: … is not a …"). */
function setUpHostPath(ctx: VolumeContext, hp: Record<string, unknown>): string {
  const path = hp['path'];
  if (typeof path !== 'string' || !path.startsWith('/')) throw new AmbitError('FAILED_MOUNT', `hostPath path must be absolute`);
  const type = typeof hp['type'] === 'string' ? hp['type'] : '';
  const real = hostPathOnNode(ctx.stateDir, ctx.nodeName, path);
  const st = statOf(real);
  const fail = (what: string): never => {
    throw new AmbitError('FAILED_MOUNT', `hostPath type check failed: ${path} is not ${what}`);
  };
  switch (type) {
    case '':
      // No check, as in Kubernetes; a local node creates a missing path as a directory so the bind mount has a source.
      if (st === undefined) mkdirSync(real, { recursive: true, mode: 0o755 });
      break;
    case 'DirectoryOrCreate':
      if (st === undefined) mkdirSync(real, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) fail('a directory');
      break;
    case 'Directory':
      if (st === undefined || !st.isDirectory()) fail('a directory');
      break;
    case 'FileOrCreate':
      if (st === undefined) {
        // The kubelet creates the file (0644) but not its parent directories.
        closeSync(openSync(real, 'a', 0o644));
      } else if (!st.isFile()) fail('a file');
      break;
    case 'File':
      if (st === undefined || !st.isFile()) fail('a file');
      break;
    case 'Socket':
      if (st === undefined || !st.isSocket()) fail('a socket file');
      break;
    case 'CharDevice':
      if (st === undefined || !st.isCharacterDevice()) fail('a character device');
      break;
    case 'BlockDevice':
      if (st === undefined || !st.isBlockDevice()) fail('a block device');
      break;
    default:
      throw new AmbitError('FAILED_MOUNT', `hostPath type "${type}" is not supported`);
  }
  return real;
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

interface Rendered {
  readonly plugin: string;
  readonly files: Map<string, VolumeFile>;
  readonly refreshAtMs?: number;
}

function renderWritten(pod: KubeObject, volume: Record<string, unknown>, ctx: VolumeContext): Rendered | undefined {
  const ns = pod.metadata.namespace ?? 'default';
  const files = new Map<string, VolumeFile>();
  if (isRecord(volume['configMap'])) {
    addObjectKeys(files, ctx, ns, 'ConfigMap', volume['configMap'], modeOf(volume['configMap']['defaultMode']));
    return { plugin: 'kubernetes.io~configmap', files };
  }
  if (isRecord(volume['secret'])) {
    const src = { ...volume['secret'], name: volume['secret']['secretName'] };
    addObjectKeys(files, ctx, ns, 'Secret', src, modeOf(volume['secret']['defaultMode']));
    return { plugin: 'kubernetes.io~secret', files };
  }
  if (isRecord(volume['downwardAPI'])) {
    addDownward(files, pod, volume['downwardAPI'], modeOf(volume['downwardAPI']['defaultMode']));
    return { plugin: 'kubernetes.io~downward-api', files };
  }
  if (!isRecord(volume['projected'])) return undefined;
  const defaultMode = modeOf(volume['projected']['defaultMode']);
  let refreshAtMs: number | undefined;
  const sources = volume['projected']['sources'];
  for (const source of Array.isArray(sources) ? sources.filter(isRecord) : []) {
    if (isRecord(source['configMap'])) addObjectKeys(files, ctx, ns, 'ConfigMap', source['configMap'], defaultMode);
    else if (isRecord(source['secret'])) addObjectKeys(files, ctx, ns, 'Secret', source['secret'], defaultMode);
    else if (isRecord(source['downwardAPI'])) addDownward(files, pod, source['downwardAPI'], defaultMode);
    else if (isRecord(source['serviceAccountToken'])) {
      const at = addToken(files, pod, source['serviceAccountToken'], defaultMode, ctx);
      refreshAtMs = Math.min(refreshAtMs ?? Infinity, at);
    } else if (isRecord(source['clusterTrustBundle'])) {
      throw new AmbitError('FAILED_MOUNT', 'clusterTrustBundle projections are not supported by the local kubelet');
    }
  }
  return refreshAtMs === undefined
    ? { plugin: 'kubernetes.io~projected', files }
    : { plugin: 'kubernetes.io~projected', files, refreshAtMs };
}

/** defaultMode / mode: an int32 of permission bits; default 0644 (the API's 420). */
function modeOf(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o777 ? v : 0o644;
}

/** configMap / secret keys, all or `items`, with the kubelet's "not found" failures unless `optional`. */
function addObjectKeys(
  files: Map<string, VolumeFile>,
  ctx: VolumeContext,
  namespace: string,
  kind: 'ConfigMap' | 'Secret',
  src: Record<string, unknown>,
  defaultMode: number,
): void {
  const name = typeof src['name'] === 'string' ? src['name'] : '';
  const optional = src['optional'] === true;
  const obj = ctx.view.find(kind, namespace, name);
  const lower = kind === 'ConfigMap' ? 'configmap' : 'secret';
  if (obj === undefined) {
    if (optional) return;
    throw new AmbitError('FAILED_MOUNT', `${lower} "${name}" not found`);
  }
  const data = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(asRecord(obj['data']))) {
    if (typeof v !== 'string') continue;
    data.set(k, kind === 'Secret' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
  }
  if (kind === 'ConfigMap') {
    for (const [k, v] of Object.entries(asRecord(obj['binaryData']))) if (typeof v === 'string') data.set(k, Buffer.from(v, 'base64'));
  } else {
    // stringData is write-only in a real API server (merged into data); accept it if the store kept it.
    for (const [k, v] of Object.entries(asRecord(obj['stringData']))) if (typeof v === 'string') data.set(k, Buffer.from(v, 'utf8'));
  }
  const items = Array.isArray(src['items']) ? src['items'].filter(isRecord) : undefined;
  if (items === undefined || items.length === 0) {
    for (const [k, content] of data) files.set(k, { content, mode: defaultMode });
    return;
  }
  for (const item of items) {
    const key = String(item['key'] ?? '');
    const content = data.get(key);
    if (content === undefined) {
      if (optional) continue;
      throw new AmbitError('FAILED_MOUNT', `configmap references non-existent config key: ${key}`.replace('configmap', lower));
    }
    files.set(String(item['path'] ?? key), { content, mode: typeof item['mode'] === 'number' ? modeOf(item['mode']) : defaultMode });
  }
}

function addDownward(files: Map<string, VolumeFile>, pod: KubeObject, src: Record<string, unknown>, defaultMode: number): void {
  const items = Array.isArray(src['items']) ? src['items'].filter(isRecord) : [];
  for (const item of items) {
    const fieldPath = asRecord(item['fieldRef'])['fieldPath'];
    if (typeof fieldPath !== 'string') {
      throw new AmbitError('FAILED_MOUNT', `downwardAPI item ${String(item['path'])}: only fieldRef is supported by the local kubelet`);
    }
    const mode = typeof item['mode'] === 'number' ? modeOf(item['mode']) : defaultMode;
    files.set(String(item['path']), { content: downwardFieldValue(pod, fieldPath), mode });
  }
}

/**
 * A projected ServiceAccount token: requested bound to the pod, for the source's audience (default: the API's) and
 * lifetime (default 1 h, as the API defaults `expirationSeconds`); refreshed at 80 % of its lifetime.
 */
function addToken(
  files: Map<string, VolumeFile>,
  pod: KubeObject,
  src: Record<string, unknown>,
  defaultMode: number,
  ctx: VolumeContext,
): number {
  if (ctx.tokens === undefined) throw new AmbitError('FAILED_MOUNT', 'no ServiceAccount token issuer on this node');
  const spec = asRecord(pod['spec']);
  const expirationSeconds = typeof src['expirationSeconds'] === 'number' ? src['expirationSeconds'] : 3600;
  const audience = src['audience'];
  const now = (ctx.nowMs ?? Date.now)();
  const issued = fetchToken(ctx.tokens, {
    namespace: pod.metadata.namespace ?? 'default',
    serviceAccount: typeof spec['serviceAccountName'] === 'string' ? spec['serviceAccountName'] : 'default',
    ...(typeof audience === 'string' && audience !== '' ? { audiences: [audience] } : {}),
    expirationSeconds,
    boundObject: { kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
    nodeName: ctx.nodeName,
  });
  files.set(String(src['path'] ?? 'token'), { content: issued.token, mode: defaultMode });
  const expiresMs = Date.parse(issued.expirationTimestamp);
  const lifetimeMs = Number.isFinite(expiresMs) ? expiresMs - now : expirationSeconds * 1000;
  return now + Math.max(1000, Math.floor(lifetimeMs * 0.8));
}

/** The kubelet's wording when the TokenRequest fails (pkg/volume/projected). */
function fetchToken(tokens: TokenIssuer, req: TokenRequestSpec): IssuedToken {
  try {
    return tokens.issue(req);
  } catch (err) {
    throw new AmbitError('FAILED_MOUNT', `failed to fetch token: ${errorMessage(err)}`, { cause: err });
  }
}
