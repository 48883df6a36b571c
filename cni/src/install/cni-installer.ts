// `ambit-cni` on a node, the way istio-cni's install-cni does it (istio/istio cni/pkg/install: install.go,
// cniconfig.go, binaries.go): copy the plugin into the node's CNI bin directory, write a kubeconfig for it next to the
// CNI config, chain `{"type":"ambit-cni",…}` at the end of the primary network's plugin list, and keep it there while
// the agent runs (the primary CNI may rewrite its file, or a new primary may appear: the directory is watched). On
// uninstall, remove exactly what was added. What differs from istio-cni, on purpose:
// - the primary's file is edited as text (conflist-text.ts), so after uninstall it is byte for byte what it was;
// - a `.conf` that had to become a `.conflist` is given back as the original `.conf` on uninstall (istio-cni leaves the
//   converted list); the original bytes are kept in the installer's state file meanwhile;
// - the plugin's Node fallback gets its own Node (see installBinaries).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AmbitError, errorMessage, isRecord, type Logger } from '@ambit/core';
import {
  appendPluginText,
  CniConfigError,
  convertConfToConfList,
  parseConfListText,
  parseConfText,
  removePluginText,
  type ConfListText,
} from './conflist-text.ts';

/** The plugin's type in the chain (its executable's name in the bin directory). */
export const PLUGIN_TYPE = 'ambit-cni';
/** Files the installer puts into the bin directory: the C front end, its Node fallback, and the fallback's Node. */
export const PLUGIN_FILES = ['ambit-cni', 'ambit-cni-node'] as const;
/**
 * The fallback's own Node: a directory (not a `*` plugin name a runtime could be asked for) beside the plugin. The front
 * end runs `<its dir>/ambit-cni.d/node <its dir>/ambit-cni-node` when it exists (native/ambit-cni-shim.c).
 */
export const NODE_DIR = 'ambit-cni.d';
/** As istio-cni's `ZZZ-istio-cni-kubeconfig`: sorts last and has no config extension, so no runtime reads it as a network. */
export const KUBECONFIG_FILE = 'ZZZ-ambit-cni-kubeconfig';

export interface CniInstallOptions {
  /** Where to copy the plugin, as this process sees it (the DaemonSet mounts the node's /opt/cni/bin at /host/opt/cni/bin). */
  readonly binDir: string;
  /** The node's CNI config directory, as this process sees it (DaemonSet: /host/etc/cni/net.d). */
  readonly confDir: string;
  /** The same config directory as the node's container runtime sees it (written into the entry's `kubeconfig`). */
  readonly hostConfDir: string;
  /** Directory holding the built `ambit-cni` and `ambit-cni-node` (the image's cni/bin). */
  readonly sourceBinDir: string;
  /** The Node the fallback runs with, copied to `<binDir>/ambit-cni.d/node`; undefined: none (the fallback's shebang). */
  readonly nodeBinary?: string;
  /** The entry chained into the primary list, `type` excluded (agentSocket, kubeconfig, excludeNamespaces…). */
  readonly entry: Readonly<Record<string, unknown>>;
  /** The plugin's kubeconfig text, or undefined to write none; called again at every resync (tokens rotate). */
  readonly kubeconfig?: () => Promise<string | undefined>;
  /** JSON file of what the installer changed (a converted `.conf`'s original text); directory created. */
  readonly stateFile: string;
  readonly log: Logger;
  /** Period of the full re-check besides the directory watch, ms; default 30 000. */
  readonly resyncMs?: number;
  /** Called after every pass that left the entry chained, with the list's path (the agent's readiness); default none. */
  readonly onChained?: (conflist: string) => void;
}

export interface CniInstaller {
  /** Installs once (binaries, kubeconfig, chained entry); resolves to the conflist chained into, or undefined if none yet. */
  install(): Promise<string | undefined>;
  /** Installs, then keeps the entry in place: watches the config directory and re-checks every `resyncMs`. */
  start(): Promise<void>;
  /** Stops watching; leaves everything installed (an agent restart must not unchain the plugin). */
  stop(): Promise<void>;
  /** Stops watching and removes what was installed: the entry (or the converted list), the kubeconfig, the binaries. */
  uninstall(): Promise<void>;
}

interface InstallState {
  /** A `.conf` converted to `<name>.conflist`: its file name and original text, given back on uninstall. */
  readonly converted?: { readonly conf: string; readonly conflist: string; readonly original: string };
}

const CONFIG_EXTENSIONS = ['.conf', '.conflist'];
const isOurs = (p: Readonly<Record<string, unknown>>): boolean => p['type'] === PLUGIN_TYPE;

export function createCniInstaller(opts: CniInstallOptions): CniInstaller {
  const log = opts.log.child({ component: 'cni-install' });
  const entry = { ...opts.entry, type: PLUGIN_TYPE };
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let queued = false;
  let stopped = false;
  const verified: VerifiedFiles = new Map();

  const pass = async (): Promise<string | undefined> => {
    await installBinaries(opts, verified, log);
    await writeKubeconfig(opts);
    const chained = await chain(opts, entry, log);
    if (chained !== undefined) opts.onChained?.(chained);
    return chained;
  };
  // One pass at a time (they write the same temporary files): every pass, watch-driven or not, queues behind the last.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = running.then(fn);
    running = result.catch(() => undefined);
    return result;
  };
  const schedule = (): void => {
    // A watch event while a pass is already queued is covered by that pass, which reads the directory when it runs.
    if (stopped || queued) return;
    queued = true;
    void serial(async () => {
      queued = false;
      if (stopped) return;
      await pass().catch((err: unknown) =>
        log.error({ err: errorMessage(err) }, 'CNI install check failed; retrying at the next change or resync'),
      );
    });
  };
  const stop = async (): Promise<void> => {
    stopped = true;
    watcher?.close();
    watcher = undefined;
    if (timer !== undefined) clearInterval(timer);
    await running;
  };

  return {
    install: () => serial(pass),
    async start() {
      await mkdir(opts.confDir, { recursive: true });
      // Watch first: a file written between the first pass and the watch would otherwise go unseen until the resync.
      watcher = watch(opts.confDir, () => schedule());
      watcher.on('error', (err) => log.warn({ err: errorMessage(err) }, 'CNI config directory watch failed; resync continues'));
      timer = setInterval(() => schedule(), opts.resyncMs ?? 30_000);
      timer.unref();
      let chained: string | undefined;
      try {
        chained = await serial(pass);
      } catch (err) {
        await stop();
        throw err;
      }
      if (chained === undefined)
        log.warn({ confDir: opts.confDir }, 'no primary CNI config yet; ambit-cni will be chained into the first one that appears');
    },
    stop,
    async uninstall() {
      await stop();
      await unchain(opts, log);
      await rm(join(opts.confDir, KUBECONFIG_FILE), { force: true });
      for (const f of PLUGIN_FILES) await rm(join(opts.binDir, f), { force: true });
      await rm(join(opts.binDir, NODE_DIR), { recursive: true, force: true });
      await rm(opts.stateFile, { force: true });
      log.info({ binDir: opts.binDir, confDir: opts.confDir }, 'ambit-cni uninstalled');
    },
  };
}

/** A config file of the directory, parsed as the runtime would (a list, or a single network to convert). */
type Primary =
  | { readonly file: string; readonly list: ConfListText }
  | { readonly file: string; readonly conf: Readonly<Record<string, unknown>>; readonly text: string };

/**
 * The network a runtime uses: the lexically first `.conf`/`.conflist` that parses (libcni ConfFiles order, as
 * istio-cni's getDefaultCNINetwork; containerd and CRI-O also skip files that do not parse).
 */
async function findPrimary(confDir: string, log: Logger): Promise<Primary | undefined> {
  const names = (await readdir(confDir).catch(() => [] as string[])).filter((n) => CONFIG_EXTENSIONS.some((e) => n.endsWith(e))).sort();
  for (const name of names) {
    const file = join(confDir, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try {
      if (name.endsWith('.conflist')) return { file, list: parseConfListText(text, file) };
      return { file, conf: parseConfText(text, file), text };
    } catch (err) {
      log.warn({ file, err: errorMessage(err) }, 'skipping a CNI config that does not parse');
    }
  }
  return undefined;
}

/** Makes `entry` the chained plugin of the primary network; returns the list's path (undefined: no primary yet). */
async function chain(opts: CniInstallOptions, entry: Readonly<Record<string, unknown>>, log: Logger): Promise<string | undefined> {
  const primary = await findPrimary(opts.confDir, log);
  if (primary === undefined) return undefined;
  // A list we chained into earlier that is no longer the primary (a new primary CNI sorted before it) loses the entry.
  await unchainOthers(opts, primary.file, log);
  if ('conf' in primary) {
    const conflist = `${primary.file}list`;
    const list = parseConfListText(convertConfToConfList(primary.conf), conflist);
    await saveState(opts.stateFile, {
      converted: {
        conf: primary.file.slice(opts.confDir.length + 1),
        conflist: conflist.slice(opts.confDir.length + 1),
        original: primary.text,
      },
    });
    await atomicWrite(conflist, appendPluginText(list, entry), 0o644);
    await rm(primary.file, { force: true });
    log.info({ from: primary.file, to: conflist }, 'converted the primary CNI config to a list and chained ambit-cni');
    return conflist;
  }
  const { list, file } = primary;
  const ours = list.plugins.filter(isOurs);
  if (ours.length === 1 && sameJson(ours[0], entry)) return file;
  const base = ours.length === 0 ? list : parseConfListText(removePluginText(list, isOurs) ?? list.text, file);
  await atomicWrite(file, appendPluginText(base, entry), await modeOf(file));
  log.info({ file, replaced: ours.length > 0 }, 'chained ambit-cni into the primary CNI config');
  return file;
}

/** Removes the entry from every list of the directory except `keep`. */
async function unchainOthers(opts: CniInstallOptions, keep: string, log: Logger): Promise<void> {
  for (const name of await readdir(opts.confDir)) {
    const file = join(opts.confDir, name);
    if (file === keep || !name.endsWith('.conflist')) continue;
    await unchainFile(opts, file, log);
  }
}

async function unchain(opts: CniInstallOptions, log: Logger): Promise<void> {
  for (const name of await readdir(opts.confDir).catch(() => [] as string[])) {
    if (name.endsWith('.conflist')) await unchainFile(opts, join(opts.confDir, name), log);
  }
}

async function unchainFile(opts: CniInstallOptions, file: string, log: Logger): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  let list: ConfListText;
  try {
    list = parseConfListText(text, file);
  } catch {
    return; // not a list we could have written
  }
  if (!list.plugins.some(isOurs)) return;
  const state = await loadState(opts.stateFile);
  const converted = state.converted;
  const without = removePluginText(list, isOurs);
  if (converted !== undefined && join(opts.confDir, converted.conflist) === file) {
    const conf = join(opts.confDir, converted.conf);
    if ((await stat(conf).catch(() => undefined)) !== undefined) {
      // The primary wrote its `.conf` again since the conversion: that is its config now, and the list is ours alone.
      await rm(file, { force: true });
      await saveState(opts.stateFile, {});
      log.info({ file, kept: converted.conf }, 'removed the converted CNI config list; the primary rewrote its .conf');
      return;
    }
    // Give the primary back the single `.conf` it wrote, if the list still holds exactly its network.
    const stillOriginal =
      without !== undefined &&
      sameJson(
        parseConfListText(without, file).json,
        JSON.parse(convertConfToConfList(parseConfText(converted.original, file))) as unknown,
      );
    if (stillOriginal) {
      await atomicWrite(conf, converted.original, 0o644);
      await rm(file, { force: true });
      await saveState(opts.stateFile, {});
      log.info({ file, restored: converted.conf }, 'restored the primary CNI config');
      return;
    }
  }
  if (without === undefined) {
    // Only our plugin in the list: nobody's network; a list cannot be empty, so the file goes.
    await rm(file, { force: true });
    return;
  }
  await atomicWrite(file, without, await modeOf(file));
  log.info({ file }, 'removed ambit-cni from the CNI config');
}

/**
 * The plugin files, replaced only when their content differs, each by a rename so a runtime starting a pod meanwhile
 * runs the old or the new file, never half of one. The fallback (`ambit-cni-node`, bundled JavaScript) runs on the node,
 * not in the image, and a node may have no Node at all or an older one: it gets the agent's own Node beside it (the
 * front end runs it with that Node), as a self-contained plugin would carry its runtime. Where the bin directory is on
 * the same filesystem as the source, a hard link replaces the ~120 MB copy.
 */
async function installBinaries(opts: CniInstallOptions, verified: VerifiedFiles, log: Logger): Promise<void> {
  await mkdir(opts.binDir, { recursive: true });
  for (const f of PLUGIN_FILES) {
    if (await installFile(join(opts.sourceBinDir, f), join(opts.binDir, f), verified))
      log.info({ file: join(opts.binDir, f) }, 'installed');
  }
  if (opts.nodeBinary !== undefined) {
    await mkdir(join(opts.binDir, NODE_DIR), { recursive: true });
    const dest = join(opts.binDir, NODE_DIR, 'node');
    if (await installFile(opts.nodeBinary, dest, verified)) log.info({ file: dest }, 'installed the fallback Node');
  }
}

/**
 * Per installed file, the source's and the file's stat when this installer last found them equal (or made them so).
 * Without it every pass (each config directory event, each resync: every 30 s) read and hashed the ~120 MB Node twice
 * when it is a copy, close to a CPU-second a pass, and the agent's own kubeconfig write at start brought a second pass.
 * A write to either file, in place or by rename, changes its size, mtime, ctime or inode, and so hashes it again.
 */
type VerifiedFiles = Map<string, { readonly src: string; readonly dest: string }>;

function statKey(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/** Copies (or links) src to dest unless dest has the same content; mode 0755. Returns whether it wrote. */
async function installFile(src: string, dest: string, verified: VerifiedFiles): Promise<boolean> {
  const [s, d] = await Promise.all([stat(src), stat(dest).catch(() => undefined)]);
  if (d !== undefined) {
    const known = verified.get(dest);
    if (known !== undefined && known.src === statKey(s) && known.dest === statKey(d)) return false;
    if ((s.dev === d.dev && s.ino === d.ino) || (s.size === d.size && (await sha256(src)) === (await sha256(dest)))) {
      verified.set(dest, { src: statKey(s), dest: statKey(d) });
      return false;
    }
  }
  verified.delete(dest);
  const tmp = `${dest}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  // A link shares the source's mode: only an executable source may be linked.
  const linked =
    (s.mode & 0o111) === 0o111 &&
    (await link(src, tmp).then(
      () => true,
      () => false,
    ));
  if (!linked) {
    await copyFile(src, tmp);
    await chmod(tmp, 0o755);
  }
  await rename(tmp, dest);
  verified.set(dest, { src: statKey(s), dest: statKey(await stat(dest)) });
  return true;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(file);
  try {
    for await (const chunk of fh.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

async function writeKubeconfig(opts: CniInstallOptions): Promise<void> {
  const text = await opts.kubeconfig?.();
  if (text === undefined) return;
  const file = join(opts.confDir, KUBECONFIG_FILE);
  if ((await readFile(file, 'utf8').catch(() => undefined)) === text) return;
  // 0600: it holds the agent's token.
  await atomicWrite(file, text, 0o600);
}

async function atomicWrite(file: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.ambit.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(text);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

async function modeOf(file: string): Promise<number> {
  return ((await stat(file).catch(() => undefined))?.mode ?? 0o644) & 0o777;
}

async function loadState(file: string): Promise<InstallState> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  try {
    const json: unknown = JSON.parse(text);
    const c = isRecord(json) ? json['converted'] : undefined;
    if (isRecord(c) && typeof c['conf'] === 'string' && typeof c['conflist'] === 'string' && typeof c['original'] === 'string') {
      return { converted: { conf: c['conf'], conflist: c['conflist'], original: c['original'] } };
    }
    return {};
  } catch (err) {
    throw new AmbitError('CNI_INSTALL_STATE', `${file}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
}

async function saveState(file: string, state: InstallState): Promise<void> {
  await atomicWrite(file, `${JSON.stringify(state)}\n`, 0o600);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(canonical);
  if (isRecord(x))
    return Object.fromEntries(
      Object.keys(x)
        .sort()
        .map((k) => [k, canonical(x[k])]),
    );
  return x;
}

export { CniConfigError };
