import { ip, ipIn, runRaw } from './exec.ts';

/** Where `ip netns add` mounts a namespace; CNI plugins take this path as CNI_NETNS. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** Creates network namespace `name` (fails if it exists). */
export async function addNetns(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
}

/**
 * Deletes network namespace `name`; a namespace that does not exist is not an error, so teardown can be repeated.
 * Processes still inside keep the kernel namespace alive after this: stop them first.
 */
export async function deleteNetns(name: string): Promise<void> {
  if (!(await nsExists(name))) return;
  await ip(['netns', 'del', name]);
}

/** Names of all network namespaces `ip netns` knows, in its order. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await ip(['netns', 'list']);
  // Lines look like `name (id: 3)` or just `name`.
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** True when network namespace `name` exists. */
export async function nsExists(name: string): Promise<boolean> {
  return (await listNetns()).includes(name);
}

/** Brings `lo` up inside `ns`: a fresh namespace starts with it down, so even 127.0.0.1 fails. */
export async function loopbackUp(ns: string): Promise<void> {
  await ipIn(ns, ['link', 'set', 'lo', 'up']);
}

/** PIDs of the processes whose network namespace is `ns` (`ip netns pids`); empty when `ns` does not exist. */
export async function pidsIn(ns: string): Promise<number[]> {
  const result = await runRaw(['ip', 'netns', 'pids', ns]);
  if (result.exitCode !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => Number.parseInt(line.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** Names of the network namespaces that start with `prefix` (everything one local cluster or test created). */
export async function listNetnsWithPrefix(prefix: string): Promise<string[]> {
  return (await listNetns()).filter((name) => name.startsWith(prefix));
}

/**
 * SIGKILLs every process inside `ns` and waits (up to `timeoutMs`, default 5000) until none is left, so the kernel
 * namespace really goes away with `deleteNetns`. Only for namespaces this program created: whatever runs in them is
 * ours. Returns the PIDs it signalled.
 */
export async function killProcessesIn(ns: string, timeoutMs = 5000): Promise<number[]> {
  const signalled = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Never this process or init, whatever /proc says: a namespace mix-up must not take the runner down with it.
    const pids = (await pidsIn(ns)).filter((pid) => pid !== process.pid && pid !== 1);
    if (pids.length === 0 || Date.now() >= deadline) return [...signalled];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        signalled.add(pid);
      } catch {
        // Already gone (ESRCH) between listing and signalling.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
