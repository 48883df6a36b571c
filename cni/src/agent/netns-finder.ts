// Finding the network namespace of a pod that is already running, from its IP. Label-driven enrolment needs this:
// no CNI call hands over CNI_NETNS for a pod that was started before it became ambient. Istio's agent does the same
// (cni/pkg/nodeagent/podcgroupns.go walks /proc); here the test is "which namespace owns this address".
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { AmbitError } from '@ambit/core';

export interface NetnsFinderOptions {
  /** Directories of named namespaces, searched in order; default `/run/netns`, `/var/run/netns` (often the same). */
  readonly netnsDirs?: readonly string[];
  /** procfs mount; default `/proc`. */
  readonly procDir?: string;
}

/** More than one namespace owns the address: capturing either could capture the wrong pod, so neither is chosen. */
export class NetnsAmbiguousError extends AmbitError {
  readonly candidates: readonly string[];

  constructor(ip: string, candidates: readonly string[]) {
    super('NETNS_AMBIGUOUS', `IP ${ip} is local in ${candidates.length} network namespaces (${candidates.join(', ')})`);
    this.candidates = candidates;
  }
}

const DEFAULT_NETNS_DIRS = ['/run/netns', '/var/run/netns'];

/** A namespace identity: nsfs device and inode, equal for `/proc/PID/ns/net` and a bind mount under /run/netns. */
type NsId = string;

async function nsIdOf(path: string): Promise<NsId | undefined> {
  try {
    const st = await stat(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    // Gone (a process exited, a namespace was deleted) or unreadable: not a candidate.
    return undefined;
  }
}

/**
 * The path of the network namespace in which `ip` is a local address, or undefined when none is.
 *
 * Processes first: `/proc/PID/net/fib_trie` shows the routes of PID's namespace, and an address followed by a
 * `/32 host LOCAL` entry is local there (IPv6: `/proc/PID/net/if_inet6`). One process is read per namespace. Named
 * namespaces that no process is in (a sandbox whose containers are all down) are then read with
 * `nsenter --net=PATH ip -o addr show`. The stable `/run/netns/NAME` path is returned when the namespace has one,
 * else `/proc/PID/ns/net` of its lowest PID (the sandbox's oldest process).
 *
 * The agent's own namespace and that of PID 1 (the host) are never returned: a pod never lives there, and capture
 * rules installed there would capture the node.
 *
 * @throws NetnsAmbiguousError when several namespaces hold the address (e.g. two clusters on one host).
 */
export async function findNetnsByIp(ip: string, options: NetnsFinderOptions = {}): Promise<string | undefined> {
  const candidates = await findNetnsCandidates(ip, options);
  if (candidates.length > 1) throw new NetnsAmbiguousError(ip, candidates);
  return candidates[0];
}

/** Every namespace path (one per namespace) where `ip` is local, host and own namespace excluded. */
export async function findNetnsCandidates(ip: string, options: NetnsFinderOptions = {}): Promise<string[]> {
  const wanted = normaliseIp(ip);
  const proc = options.procDir ?? '/proc';
  const skip = new Set<NsId | undefined>([await nsIdOf(join(proc, 'self/ns/net')), await nsIdOf(join(proc, '1/ns/net'))]);
  const named = await namedNamespaces(options.netnsDirs ?? DEFAULT_NETNS_DIRS);

  // One (the lowest) pid per namespace.
  const pidOf = new Map<NsId, number>();
  const pids = (await readdir(proc))
    .filter((e) => /^[0-9]+$/.test(e))
    .map(Number)
    .sort((a, b) => a - b);
  for (const pid of pids) {
    const id = await nsIdOf(join(proc, String(pid), 'ns/net'));
    if (id !== undefined && !skip.has(id) && !pidOf.has(id)) pidOf.set(id, pid);
  }

  const found = new Set<NsId>();
  for (const [id, pid] of pidOf) {
    if (await processNetnsHasIp(join(proc, String(pid)), wanted)) found.add(id);
  }
  for (const [id, path] of named) {
    if (skip.has(id) || pidOf.has(id)) continue;
    if ((await addressesInNetns(path)).has(wanted)) found.add(id);
  }
  return [...found].map((id) => named.get(id) ?? join(proc, String(pidOf.get(id)), 'ns/net')).sort();
}

/** Named namespaces by identity; the first path seen wins (so `/run/netns` over a `/var/run/netns` alias). */
async function namedNamespaces(dirs: readonly string[]): Promise<Map<NsId, string>> {
  const named = new Map<NsId, string>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = (await readdir(dir)).sort();
    } catch {
      continue; // No such directory: nothing named there.
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      const id = await nsIdOf(path);
      // A plain file left behind by a failed `ip netns add` has the tmpfs device, not nsfs; it cannot hold addresses.
      if (id !== undefined && !named.has(id)) named.set(id, path);
    }
  }
  return named;
}

async function processNetnsHasIp(pidDir: string, wanted: string): Promise<boolean> {
  try {
    if (isIPv4(wanted)) return localIpv4s(await readFile(join(pidDir, 'net/fib_trie'), 'utf8')).has(wanted);
    return ipv6sOfIfInet6(await readFile(join(pidDir, 'net/if_inet6'), 'utf8')).has(wanted);
  } catch {
    return false; // The process exited while we looked.
  }
}

/** Addresses with a `/32 host LOCAL` entry in a fib_trie dump (the kernel's own list of local IPv4 addresses). */
export function localIpv4s(fibTrie: string): Set<string> {
  const local = new Set<string>();
  let leaf: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const leafMatch = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (leafMatch !== null) {
      leaf = leafMatch[1];
      continue;
    }
    if (leaf !== undefined && /^\s*\/32 host LOCAL\s*$/.test(line)) local.add(leaf);
    else if (!/^\s*\//.test(line)) leaf = undefined;
  }
  return local;
}

/** Addresses of `/proc/PID/net/if_inet6` (32 hex digits per line), normalised. */
export function ipv6sOfIfInet6(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const hex = line.trim().split(/\s+/)[0] ?? '';
    if (/^[0-9a-f]{32}$/.test(hex)) out.add(hex);
  }
  return out;
}

/** IPv4 as is; IPv6 as 32 lower-case hex digits (the if_inet6 form), so textual variants compare equal. */
export function normaliseIp(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) throw new AmbitError('BAD_IP', `not an IP address: ${JSON.stringify(ip)}`);
  let text = ip.toLowerCase().replace(/%.*$/, '');
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...fill, ...tailGroups].map((g) => g.padStart(4, '0')).join('');
}

/** `nsenter --net=PATH ip -o addr show`: every address in a namespace no process of ours could be read through. */
function addressesInNetns(path: string): Promise<Set<string>> {
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=${path}`, '--', 'ip', '-o', 'addr', 'show'], { encoding: 'utf8', timeout: 5000 }, (err, stdout) => {
      const out = new Set<string>();
      // A namespace deleted meanwhile (or not a namespace at all) simply holds no address.
      if (err !== null) return resolve(out);
      for (const m of stdout.matchAll(/\sinet6?\s+([0-9a-fA-F.:]+)\//g)) {
        const ip = m[1] ?? '';
        if (isIPv4(ip) || isIPv6(ip)) out.add(normaliseIp(ip));
      }
      resolve(out);
    });
  });
}
