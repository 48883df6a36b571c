import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AmbitError, errorMessage, isRecord, type Logger } from '@ambit/core';
import { wrapContainerArgv, type ContainerMount } from '../proc/container-wrapper.ts';
import { SYSTEM_PATH, resolveExecutable, runRaw } from './exec.ts';
import type { NodeDir, NodeNet } from './topology.ts';

/**
 * A CNI 1.0 runtime, the part of a kubelet/container runtime that calls plugins:
 * https://github.com/containernetworking/cni/blob/main/SPEC.md (sections "Execution of Network Configurations" and
 * "Plugin Delegation"). Plugins run inside the node's namespace, because the bridge plugin creates the bridge and the
 * host end of each veth in the namespace it runs in, which must be the node's.
 */

/** What the kubelet passes in CNI_ARGS for a pod (https://github.com/containernetworking/cni/blob/main/CONVENTIONS.md). */
export interface PodCniArgs {
  readonly K8S_POD_NAMESPACE: string;
  readonly K8S_POD_NAME: string;
  readonly K8S_POD_INFRA_CONTAINER_ID: string;
  readonly K8S_POD_UID: string;
}

/** The runtime side of one attachment: which container, which namespace, which interface. */
export interface CniAttachment {
  /** Sandbox id: letters, digits, `_`, `.`, `-`. */
  readonly containerId: string;
  /** Path of the pod's namespace, e.g. `/run/netns/ambit-demo-pod-…`. */
  readonly netns: string;
  /** Interface name inside the pod, normally `eth0`. */
  readonly ifName: string;
  readonly args: PodCniArgs;
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. `10.244.1.2/24`. */
  readonly address: string;
  readonly gateway?: string;
  /** Index into `interfaces`. */
  readonly interface?: number;
}

/** A plugin's ADD result, parsed; `raw` is the JSON exactly as the plugin printed it (what `prevResult` must carry). */
export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces: readonly CniInterface[];
  readonly ips: readonly CniIpConfig[];
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A network configuration list (`*.conflist`), as read from a node's config directory. */
export interface CniConfList {
  readonly file: string;
  readonly cniVersion: string;
  readonly name: string;
  readonly disableCheck: boolean;
  readonly plugins: readonly Readonly<Record<string, unknown>>[];
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** A plugin failed; `cniCode` is the plugin's error code (spec "Error"), when it printed one. */
export class CniError extends AmbitError {
  readonly plugin: string;
  readonly command: CniCommand;
  readonly cniCode: number | undefined;

  constructor(plugin: string, command: CniCommand, message: string, cniCode?: number, cause?: unknown) {
    super('CNI_FAILED', `CNI plugin "${plugin}" ${command} failed: ${message}`, { cause });
    this.plugin = plugin;
    this.command = command;
    this.cniCode = cniCode;
  }
}

/** Containerd and CRI-O set up the pod's `lo` with the loopback plugin as a network of its own, before the pod network. */
const LOOPBACK_NETWORK = { cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] } as const;

/** Plugins that hang (a stuck lock, a dead netns) must not hang pod set-up forever. */
const PLUGIN_TIMEOUT_MS = 60_000;

/**
 * ADD: sets up `lo`, then runs the node's network configuration list in order, each plugin getting the previous
 * one's result as `prevResult`; caches the final result for DEL and CHECK and returns it. On failure nothing is
 * undone here: the caller runs `cniDel`, as a kubelet does.
 */
export async function cniAdd(node: NodeNet, attachment: CniAttachment, log?: Logger): Promise<CniResult> {
  await runNetworkAdd(node, LOOPBACK_NETWORK.plugins, LOOPBACK_NETWORK, { ...attachment, ifName: 'lo' }, log);
  const conf = await loadConfList(node.cniConfDir);
  const result = await runNetworkAdd(node, conf.plugins, conf, attachment, log);
  if (result === undefined) throw new CniError(conf.name, 'ADD', 'the plugin chain returned no result');
  await writeCache(node, conf.name, attachment, result.raw);
  return result;
}

/**
 * DEL: runs the chain in reverse order, with the cached ADD result as `prevResult` when there is one, then removes the
 * cache and tears down `lo`. Plugins must tolerate DEL of what they never added (spec), so DEL may be repeated.
 */
export async function cniDel(node: NodeNet, attachment: CniAttachment, log?: Logger): Promise<void> {
  const conf = await loadConfList(node.cniConfDir);
  const cached = await readCache(node, conf.name, attachment);
  // Unlike libcni, one failing plugin does not stop the others: the bridge must still release the pod's IP when a
  // plugin after it is broken or missing. The first error is thrown once all have run, and the cache is kept so a
  // retried DEL still has prevResult.
  const errors: unknown[] = [];
  for (const plugin of [...conf.plugins].reverse()) {
    await invokePlugin(node, plugin, conf, 'DEL', attachment, cached, log).catch((err: unknown) => errors.push(err));
  }
  const lo = { ...attachment, ifName: 'lo' };
  for (const plugin of LOOPBACK_NETWORK.plugins) {
    await invokePlugin(node, plugin, LOOPBACK_NETWORK, 'DEL', lo, undefined, log).catch((err: unknown) => errors.push(err));
  }
  if (errors.length > 0) throw errors[0];
  await rm(cachePath(node, conf.name, attachment), { force: true });
}

/** CHECK: asks every plugin whether the attachment is still as it set it up; throws CniError when not. */
export async function cniCheck(node: NodeNet, attachment: CniAttachment, log?: Logger): Promise<void> {
  const conf = await loadConfList(node.cniConfDir);
  if (conf.disableCheck) return;
  const cached = await readCache(node, conf.name, attachment);
  // Spec: CHECK always carries prevResult; without a cached ADD there is nothing to check against.
  if (cached === undefined) throw new CniError(conf.name, 'CHECK', `no cached result for container ${attachment.containerId}`);
  for (const plugin of conf.plugins) await invokePlugin(node, plugin, conf, 'CHECK', attachment, cached, log);
}

/** The first `*.conflist` in `dir`, in lexical order, as libcni picks it. */
export async function loadConfList(dir: string): Promise<CniConfList> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.conflist')).sort();
  } catch (err) {
    throw new AmbitError('CNI_CONFIG', `cannot read CNI config dir ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const first = files[0];
  if (first === undefined) throw new AmbitError('CNI_CONFIG', `no *.conflist in ${dir}`);
  const file = join(dir, first);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new AmbitError('CNI_CONFIG', `${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parseConfList(json, file);
}

/** Validates a conflist's fields the runtime relies on; rejects with the file and field that do not parse. */
export function parseConfList(x: unknown, file: string): CniConfList {
  const bad = (field: string): AmbitError => new AmbitError('CNI_CONFIG', `${file}: bad or missing "${field}"`);
  if (!isRecord(x)) throw bad('(top level)');
  const { cniVersion, name, plugins, disableCheck } = x;
  if (typeof cniVersion !== 'string') throw bad('cniVersion');
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) throw bad('name');
  if (!Array.isArray(plugins) || plugins.length === 0) throw bad('plugins');
  const parsed = plugins.map((p: unknown, i) => {
    if (!isRecord(p) || typeof p['type'] !== 'string') throw bad(`plugins[${i}].type`);
    return p;
  });
  return { file, cniVersion, name, disableCheck: disableCheck === true, plugins: parsed };
}

/** Validates a plugin's ADD output (spec "Success" result); `plugin` names the source in errors. */
export function parseCniResult(x: unknown, plugin: string): CniResult {
  const bad = (field: string): CniError => new CniError(plugin, 'ADD', `result has bad or missing "${field}"`);
  if (!isRecord(x) || typeof x['cniVersion'] !== 'string') throw bad('cniVersion');
  const interfaces = (x['interfaces'] ?? []) as unknown;
  const ips = (x['ips'] ?? []) as unknown;
  if (!Array.isArray(interfaces)) throw bad('interfaces');
  if (!Array.isArray(ips)) throw bad('ips');
  return {
    cniVersion: x['cniVersion'],
    interfaces: interfaces.map((i: unknown, k) => {
      if (!isRecord(i) || typeof i['name'] !== 'string') throw bad(`interfaces[${k}].name`);
      return {
        name: i['name'],
        ...(typeof i['mac'] === 'string' ? { mac: i['mac'] } : {}),
        ...(typeof i['sandbox'] === 'string' ? { sandbox: i['sandbox'] } : {}),
      };
    }),
    ips: ips.map((ipc: unknown, k) => {
      if (!isRecord(ipc) || typeof ipc['address'] !== 'string') throw bad(`ips[${k}].address`);
      return {
        address: ipc['address'],
        ...(typeof ipc['gateway'] === 'string' ? { gateway: ipc['gateway'] } : {}),
        ...(typeof ipc['interface'] === 'number' ? { interface: ipc['interface'] } : {}),
      };
    }),
    raw: x,
  };
}

/**
 * The IPv4 address (without prefix length) of interface `ifName` in a result: the pod IP. Undefined when the result
 * has none.
 */
export function podIpv4(result: CniResult, ifName = 'eth0'): string | undefined {
  for (const ipc of result.ips) {
    const address = ipc.address.split('/')[0] ?? '';
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) continue;
    const iface = ipc.interface === undefined ? undefined : result.interfaces[ipc.interface];
    // Spec: `interface` points at the container-side interface, the one with `sandbox` set.
    if (iface === undefined || (iface.name === ifName && iface.sandbox !== undefined)) return address;
  }
  return undefined;
}

interface NetworkIdentity {
  readonly name: string;
  readonly cniVersion: string;
}

async function runNetworkAdd(
  node: NodeNet,
  plugins: readonly Readonly<Record<string, unknown>>[],
  network: NetworkIdentity,
  attachment: CniAttachment,
  log: Logger | undefined,
): Promise<CniResult | undefined> {
  let prev: CniResult | undefined;
  for (const plugin of plugins) {
    // A plugin that prints nothing on ADD passes the chain's result on unchanged.
    prev = (await invokePlugin(node, plugin, network, 'ADD', attachment, prev?.raw, log)) ?? prev;
  }
  return prev;
}

/** Runs one plugin once (spec "Plugin Execution"); returns its parsed result for ADD. */
async function invokePlugin(
  node: NodeNet,
  plugin: Readonly<Record<string, unknown>>,
  network: NetworkIdentity,
  command: CniCommand,
  attachment: CniAttachment,
  prevResult: Readonly<Record<string, unknown>> | undefined,
  log: Logger | undefined,
): Promise<CniResult | undefined> {
  const type = String(plugin['type']);
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new CniError(type, command, 'plugin type is not a plain file name');
  // Looked up in each CNI_PATH directory at every call: a plugin a node agent installed or removed is seen at once.
  const dir = node.cniBinDirs.find((d) => resolveExecutable(join(realPath(node, d), type)) !== undefined);
  if (dir === undefined) throw new CniError(type, command, `plugin not found in ${node.cniBinDirs.join(':')}`);
  const binary = join(dir, type);
  const config = { ...plugin, cniVersion: network.cniVersion, name: network.name, ...(prevResult === undefined ? {} : { prevResult }) };
  const env = {
    PATH: SYSTEM_PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: attachment.containerId,
    CNI_NETNS: attachment.netns,
    CNI_IFNAME: attachment.ifName,
    CNI_ARGS: cniArgs(attachment.args),
    CNI_PATH: node.cniBinDirs.join(':'),
  };
  const started = Date.now();
  const out = await runRaw(['ip', 'netns', 'exec', node.netns, ...(await nodeView(node, dir, binary))], {
    env,
    input: JSON.stringify(config),
    timeoutMs: PLUGIN_TIMEOUT_MS,
  });
  log?.debug(
    {
      plugin: type,
      command,
      container: attachment.containerId,
      ifName: attachment.ifName,
      exitCode: out.exitCode,
      ms: Date.now() - started,
      stderr: out.stderr.trim(),
    },
    'CNI plugin ran',
  );
  if (out.exitCode !== 0) throw pluginError(type, command, out.exitCode, out.signal, out.stdout, out.stderr);
  if (command !== 'ADD' || out.stdout.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(out.stdout);
  } catch (err) {
    throw new CniError(type, command, `result is not JSON: ${errorMessage(err)}`, undefined, err);
  }
  return parseCniResult(json, type);
}

/** Where a node path of `node` is on the host (itself unless it lies in one of the node's own directories). */
function realPath(node: NodeNet, path: string): string {
  const d = nodeDirOf(node.nodeDirs ?? [], path);
  return d === undefined ? path : join(d.hostPath, path.slice(d.nodePath.length));
}

function nodeDirOf(dirs: readonly NodeDir[], path: string): NodeDir | undefined {
  return dirs.find((d) => path === d.nodePath || path.startsWith(`${d.nodePath}/`));
}

/**
 * argv running `binary`. A plugin installed into the node's own filesystem (the node agent's ambit-cni in the node's
 * /opt/cni/bin) reads node paths from its config (its kubeconfig in /etc/cni/net.d, its agent's socket in
 * /var/run/ambit): as on a real node, it runs seeing the node's directories at those paths — bound in the private
 * mount namespace `ip netns exec` gives it (proc/container-wrapper.ts), together with every directory the node's pods
 * made under /var/run (hostPath volumes such as the agent's socket directory). The reference plugins of /usr/lib/cni,
 * shared with the host, read no node path but the leases directory they are given as a real path, and run as they are.
 */
async function nodeView(node: NodeNet, dir: string, binary: string): Promise<string[]> {
  const dirs = node.nodeDirs;
  if (dirs === undefined || nodeDirOf(dirs, dir) === undefined) return [binary];
  const runDir = node.nodeVarRun;
  const run = runDir === undefined ? [] : await readdir(runDir, { withFileTypes: true }).catch(() => []);
  const mounts: ContainerMount[] = [
    ...dirs,
    ...run.filter((e) => e.isDirectory()).map((e) => ({ nodePath: join('/var/run', e.name), hostPath: join(e.parentPath, e.name) })),
  ].map((d) => ({ source: d.hostPath, target: d.nodePath, directory: true, readOnly: false, propagation: 'None' }));
  const stageDir = join(node.cniCacheDir, '..', 'stage');
  await mkdir(stageDir, { recursive: true });
  return wrapContainerArgv({ stageDir, mounts, readOnlyRoot: false, setpriv: [] }, [binary]);
}

/** Turns a failed plugin run into a CniError, with the plugin's own `msg` and `details` when it printed them. */
function pluginError(
  type: string,
  command: CniCommand,
  exitCode: number | null,
  signal: string | null,
  stdout: string,
  stderr: string,
): CniError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed) && typeof parsed['msg'] === 'string') {
    const code = typeof parsed['code'] === 'number' ? parsed['code'] : undefined;
    const details = typeof parsed['details'] === 'string' && parsed['details'] !== '' ? ` (${parsed['details']})` : '';
    return new CniError(type, command, `${parsed['msg']}${details} [code ${String(code)}]`, code);
  }
  const how = signal !== null ? `killed by ${signal}` : `exit code ${String(exitCode)}`;
  return new CniError(type, command, `${how}, no error JSON; stderr: ${stderr.trim() || '(empty)'}; stdout: ${stdout.trim() || '(empty)'}`);
}

function cniArgs(args: PodCniArgs): string {
  const pairs = Object.entries(args).map(([k, v]) => {
    if (/[;=]/.test(v)) throw new AmbitError('CNI_CONFIG', `CNI_ARGS value for ${k} contains ";" or "="`);
    return `${k}=${v}`;
  });
  // IgnoreUnknown: plugins that do not know the K8S_* keys must not reject them.
  return ['IgnoreUnknown=1', ...pairs].join(';');
}

/** libcni's cache layout: results/<network>-<container>-<ifname>. */
function cachePath(node: NodeNet, network: string, attachment: CniAttachment): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(attachment.containerId)) throw new AmbitError('CNI_CONFIG', `bad container id "${attachment.containerId}"`);
  return join(node.cniCacheDir, 'results', `${network}-${attachment.containerId}-${attachment.ifName}`);
}

async function writeCache(
  node: NodeNet,
  network: string,
  attachment: CniAttachment,
  result: Readonly<Record<string, unknown>>,
): Promise<void> {
  const path = cachePath(node, network, attachment);
  await mkdir(join(node.cniCacheDir, 'results'), { recursive: true });
  const entry = {
    kind: 'cniCacheV1',
    containerId: attachment.containerId,
    ifName: attachment.ifName,
    networkName: network,
    cniArgs: attachment.args,
    result,
  };
  // Write-then-rename: a crash mid-write must not leave a torn cache that breaks the later DEL.
  await writeFile(`${path}.tmp`, JSON.stringify(entry));
  await rename(`${path}.tmp`, path);
}

async function readCache(
  node: NodeNet,
  network: string,
  attachment: CniAttachment,
): Promise<Readonly<Record<string, unknown>> | undefined> {
  let text: string;
  try {
    text = await readFile(cachePath(node, network, attachment), 'utf8');
  } catch {
    return undefined; // Never added, or already deleted.
  }
  const entry: unknown = JSON.parse(text);
  if (!isRecord(entry) || !isRecord(entry['result']))
    throw new AmbitError('CNI_CONFIG', `bad CNI cache entry for ${attachment.containerId}`);
  return entry['result'];
}
