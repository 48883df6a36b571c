// In-pod traffic capture (DESIGN.md §4): the nftables rules the node agent installs inside an ambient pod's network
// namespace so the pod's TCP goes through the ztunnel listeners that live in that same namespace. They mirror Istio's
// in-pod iptables rules (istio `cni/pkg/iptables/testdata/default.golden`, constants from `cni/pkg/config/config.go`)
// in REDIRECT mode (Istio ≥ 1.24), written for one `inet` table so IPv4 and IPv6 share a ruleset, like Istio's own
// nftables backend (`cni/pkg/nftables`). DNS capture (15053) is not implemented yet, so UDP is never touched.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { AmbitError } from '@ambit/core';

/** The only table these rules own; nothing outside it is ever created, changed or deleted. */
export const CAPTURE_TABLE = 'ambit';
/** SO_MARK on every socket ztunnel creates in the pod (Istio `InpodMark` = 1337); matched under `INPOD_MASK`. */
export const INPOD_MARK = 0x539;
export const INPOD_MASK = 0xfff;
/** Connection mark of connections ztunnel's own sockets take part in (Istio `InpodTProxyMark`). */
export const INPOD_CONN_MARK = 0x111;
/** ztunnel's in-pod listeners (DESIGN.md §4). */
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;
/** Policy routing for replies to ztunnel's spoofed inbound sockets (Istio's RouteTableInbound and rule priority). */
export const INPOD_ROUTE_TABLE = 100;
export const INPOD_RULE_PREF = 32764;

const NFT_TIMEOUT_MS = 10_000;
const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * An `nft -f` script that (re)creates table `inet ambit` in one transaction: the leading `table` + `delete table`
 * pair makes it idempotent (the add is a no-op when the table exists, and a fresh one is built after the delete), and
 * nft applies the whole file atomically, so the pod is never seen half-captured.
 *
 * Istio's rules that are deliberately left out: the kubelet probe bypass (`-s/-d 169.254.7.127 -j ACCEPT`) needs the
 * host-side probe SNAT, which Ambit does not install yet; the DNS redirects to 15053 and the `raw` CT zone rules exist
 * only with DNS capture. The `ip rule fwmark 0x111 lookup 100` / `local default dev lo table 100` policy route is not
 * nftables: installCaptureRules adds it next to this table (see installInpodRoutes).
 */
export function captureRulesScript(): string {
  const mark = `meta mark & ${hex(INPOD_MASK)}`;
  const notZtunnel = `${mark} != ${hex(INPOD_MARK)}`;
  const ctKeep = hex(~INPOD_MASK >>> 0);
  return `# Ambit in-pod capture (DESIGN.md §4); mirrors Istio's in-pod iptables rules, REDIRECT mode.
table inet ${CAPTURE_TABLE}
delete table inet ${CAPTURE_TABLE}
table inet ${CAPTURE_TABLE} {
  # Istio: *mangle -A PREROUTING -j ISTIO_PRERT
  chain prerouting-mangle {
    type filter hook prerouting priority mangle; policy accept;
    # -A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
    # (a packet from ztunnel's own socket looped back into the pod: remember the connection as ztunnel's)
    ${mark} == ${hex(INPOD_MARK)} ct mark set ct mark & ${ctKeep} | ${hex(INPOD_CONN_MARK)}
  }

  # Istio: *mangle -A OUTPUT -j ISTIO_OUTPUT. Type route: like iptables' mangle OUTPUT, a changed mark re-routes.
  chain output-mangle {
    type route hook output priority mangle; policy accept;
    # -A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
    # (the app's replies on such a connection carry the mark again, so the nat rules below leave them alone)
    ct mark & ${hex(INPOD_MASK)} == ${hex(INPOD_CONN_MARK)} meta mark set ct mark
  }

  # Istio: *nat -A PREROUTING -j ISTIO_PRERT. Inbound: everything but HBONE goes to ztunnel's plaintext listener.
  chain prerouting-nat {
    type nat hook prerouting priority dstnat; policy accept;
    # -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006
    meta nfproto ipv4 meta l4proto tcp ip daddr != 127.0.0.1 tcp dport != ${HBONE_PORT} ${notZtunnel} redirect to :${INBOUND_PLAINTEXT_PORT}
    # ip6tables: the same rule with ! -d ::1/128
    meta nfproto ipv6 meta l4proto tcp ip6 daddr != ::1 tcp dport != ${HBONE_PORT} ${notZtunnel} redirect to :${INBOUND_PLAINTEXT_PORT}
  }

  # Istio: *nat -A OUTPUT -j ISTIO_OUTPUT. Outbound: the app's TCP goes to ztunnel's outbound listener.
  chain output-nat {
    type nat hook output priority -100; policy accept;
    # -A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
    meta l4proto tcp ${mark} == ${hex(INPOD_CONN_MARK)} accept
    # -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT (the pod talking to itself on its own address)
    meta nfproto ipv4 oifname "lo" ip daddr != 127.0.0.1 accept
    # ip6tables: ! -d ::1/128 -o lo -j ACCEPT
    meta nfproto ipv6 oifname "lo" ip6 daddr != ::1 accept
    # -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
    meta nfproto ipv4 meta l4proto tcp ip daddr != 127.0.0.1 ${notZtunnel} redirect to :${OUTBOUND_CAPTURE_PORT}
    # ip6tables: the same rule with ! -d ::1/128
    meta nfproto ipv6 meta l4proto tcp ip6 daddr != ::1 ${notZtunnel} redirect to :${OUTBOUND_CAPTURE_PORT}
  }
}
`;
}

/**
 * Where the rules go: a namespace name (`ip netns` name, the file `/run/netns/NAME`) or an absolute path of a
 * namespace file (CNI_NETNS: `/run/netns/…`, `/var/run/netns/cni-…`, `/proc/PID/ns/net`).
 */
export type NetnsRef = string;

/** Installing, checking or removing the capture rules failed; the message names the namespace and nft's stderr. */
export class CaptureRulesError extends AmbitError {
  /** The namespace as given: a name or a path. */
  readonly netnsName: string;

  constructor(netnsName: string, message: string, options?: { cause?: unknown }) {
    super('CAPTURE_RULES_FAILED', message, options);
    this.netnsName = netnsName;
  }
}

/** (Re)installs the capture rules in the namespace (a name or a path). Idempotent. */
export async function installCaptureRules(netns: NetnsRef): Promise<void> {
  await refuseHostNetns(netns);
  const result = await nftInNetns(netns, ['-f', '-'], captureRulesScript());
  if (result.code !== 0) throw failure(netns, 'install capture rules', result);
  await installInpodRoutes(netns);
  await enableListenerMigration(netns);
}

/** The per-namespace sysctl that lets a closing SO_REUSEPORT listener hand its queue to another of its group. */
export const MIGRATE_REQ_SYSCTL = 'net.ipv4.tcp_migrate_req';

/**
 * Sets `net.ipv4.tcp_migrate_req=1` in the pod's namespace (it is per namespace, default 0). ztunnel's in-pod listeners
 * are SO_REUSEPORT so that a new ztunnel binds them while the old one still serves (contract 7); when the old one then
 * closes its listeners, Linux resets the connections still in their accept queues and half-open (SYN_RECV) unless
 * this is 1, in which case it moves them to a listener of the same group (kernel ≥ 5.14,
 * https://docs.kernel.org/networking/ip-sysctl.html). A kernel without it has no such file, the same for every
 * namespace: the pod is captured anyway (restarts can then reset a few new connections), which the caller learns
 * from the result.
 */
export async function enableListenerMigration(netns: NetnsRef): Promise<boolean> {
  if (!(await kernelHasMigrateReq())) return false;
  const result = await toolInNetns(netns, 'sysctl', ['-q', '-w', `${MIGRATE_REQ_SYSCTL}=1`]);
  if (result.code !== 0) throw failure(netns, `set ${MIGRATE_REQ_SYSCTL}=1`, result);
  return true;
}

/** Whether this kernel has tcp_migrate_req (looked up in the agent's own namespace: the kernel is the same). */
export function kernelHasMigrateReq(): Promise<boolean> {
  return stat(`/proc/sys/${MIGRATE_REQ_SYSCTL.replaceAll('.', '/')}`).then(
    () => true,
    () => false,
  );
}

/**
 * The policy route that returns the app's replies to ztunnel's inbound sockets: ztunnel connects to the app from the
 * client's own address (IP_TRANSPARENT, so the app sees who called), and the replies to that address carry mark
 * 0x111 (restored from the connection mark by output-mangle above); Istio's in-pod rules route them to `lo` with
 * `ip rule fwmark 0x111/0xfff lookup 100` + `ip route local default dev lo table 100`. Deleting the rule first keeps
 * repeated installs from stacking duplicates. IPv6 is best effort: a pod without IPv6 has nothing to route.
 */
/** The selector of Istio's in-pod policy rule (`ip rule … fwmark 0x111/0xfff pref … lookup 100`), for add and del. */
function inpodRule(): string[] {
  return ['fwmark', `${hex(INPOD_CONN_MARK)}/${hex(INPOD_MASK)}`, 'pref', String(INPOD_RULE_PREF), 'lookup', String(INPOD_ROUTE_TABLE)];
}

async function installInpodRoutes(netns: NetnsRef): Promise<void> {
  const rule = inpodRule();
  for (const family of ['-4', '-6'] as const) {
    await toolInNetns(netns, 'ip', [family, 'rule', 'del', ...rule]);
    const add = await toolInNetns(netns, 'ip', [family, 'rule', 'add', ...rule]);
    const route = await toolInNetns(netns, 'ip', [
      family,
      'route',
      'replace',
      'local',
      family === '-4' ? '0.0.0.0/0' : '::/0',
      'dev',
      'lo',
      'table',
      String(INPOD_ROUTE_TABLE),
    ]);
    if (family === '-4' && add.code !== 0) throw failure(netns, 'add the in-pod policy rule', add);
    if (family === '-4' && route.code !== 0) throw failure(netns, 'add the in-pod local route', route);
  }
}

async function removeInpodRoutes(netns: NetnsRef): Promise<void> {
  const rule = inpodRule();
  for (const family of ['-4', '-6'] as const) {
    await toolInNetns(netns, 'ip', [family, 'rule', 'del', ...rule]);
    await toolInNetns(netns, 'ip', [family, 'route', 'flush', 'table', String(INPOD_ROUTE_TABLE)]);
  }
}

/** Deletes table `inet ambit` in the namespace; an absent table is fine (same add-then-delete idiom, atomically). */
export async function removeCaptureRules(netns: NetnsRef): Promise<void> {
  const script = `table inet ${CAPTURE_TABLE}\ndelete table inet ${CAPTURE_TABLE}\n`;
  const result = await nftInNetns(netns, ['-f', '-'], script);
  if (result.code !== 0) throw failure(netns, 'remove capture rules', result);
  await removeInpodRoutes(netns);
}

/** Whether table `inet ambit` exists in the namespace. */
export async function captureRulesInstalled(netns: NetnsRef): Promise<boolean> {
  const result = await nftInNetns(netns, ['list', 'tables', 'inet']);
  if (result.code !== 0) throw failure(netns, 'list nftables tables', result);
  return result.stdout.split('\n').some((line) => line.trim() === `table inet ${CAPTURE_TABLE}`);
}

/**
 * Capture rules in the agent's own namespace or the host's (PID 1's) would redirect the node's own TCP: refused,
 * whatever the path says. It happens with a `/proc/PID/ns/net` whose process has not entered (or has left) the pod's
 * namespace, or whose PID was reused. A path that cannot be read is left for nft to report.
 */
async function refuseHostNetns(netns: NetnsRef): Promise<void> {
  const path = netns.startsWith('/') ? netns : `/run/netns/${netns}`;
  const id = async (p: string): Promise<string | undefined> => {
    try {
      const st = await stat(p);
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
  };
  const target = await id(path);
  if (target === undefined) return;
  if (target === (await id('/proc/self/ns/net')) || target === (await id('/proc/1/ns/net'))) {
    throw new CaptureRulesError(
      netns,
      `netns ${netns} is the host's or the agent's own network namespace: refusing to install capture rules there`,
    );
  }
}

interface NftResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The programs run inside a pod's namespace: nftables, iproute2 and procps' sysctl. */
type NetnsTool = 'nft' | 'ip' | 'sysctl';

// `ip netns` names are file names under /run/netns; refusing a leading '-' keeps one from being read as an option.
const NETNS_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

/**
 * The argv that runs nft inside the namespace. A name goes through `ip netns exec` (as before); a path through
 * util-linux `nsenter --net=PATH`, which enters only the network namespace: `ip netns exec` would also want a name and
 * set up a mount namespace that nft does not need. A path must be absolute and normalised (no `.`/`..` segments,
 * no doubled slashes), so what is logged is exactly what was entered.
 */
function toolArgv(netns: NetnsRef, tool: NetnsTool, args: readonly string[]): readonly string[] | undefined {
  if (netns.startsWith('/')) {
    if (posix.normalize(netns) !== netns || netns.endsWith('/') || /[\0\n]/.test(netns)) return undefined;
    return ['nsenter', `--net=${netns}`, '--', tool, ...args];
  }
  if (!NETNS_NAME.test(netns)) return undefined;
  return ['ip', 'netns', 'exec', netns, tool, ...args];
}

function nftInNetns(netns: NetnsRef, args: readonly string[], input?: string): Promise<NftResult> {
  return toolInNetns(netns, 'nft', args, input);
}

/** Runs nft, ip or sysctl inside the namespace (argv, no shell), feeding `input` on stdin. Resolves with the exit code. */
function toolInNetns(netns: NetnsRef, tool: NetnsTool, args: readonly string[], input?: string): Promise<NftResult> {
  const argv = toolArgv(netns, tool, args);
  if (argv === undefined) {
    return Promise.reject(new CaptureRulesError(netns, `invalid network namespace name or path ${JSON.stringify(netns)}`));
  }
  const [command = '', ...rest] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(command, rest, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: NFT_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => {
      reject(new CaptureRulesError(netns, `netns ${netns}: cannot run ${command} … ${tool}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      resolve({ code: code ?? 1, stdout, stderr: signal === null ? stderr : `${stderr}killed by ${signal}` });
    });
    // An early exit (bad namespace) closes stdin under us; that is reported through the exit code, not here.
    child.stdin.once('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

function failure(netns: NetnsRef, what: string, result: NftResult): CaptureRulesError {
  const stderr = result.stderr.trim() || '(no output)';
  return new CaptureRulesError(netns, `netns ${netns}: ${what} failed (exit ${result.code}): ${stderr}`);
}
