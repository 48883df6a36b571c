import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { eventually } from '@ambit/core/testing';

export interface UnixForwarder {
  /** The gRPC target of the host-side end: `unix:<socketPath>`. */
  readonly target: string;
  /** socat's PID (the listening parent). */
  readonly pid: number;
  /** Stops socat and the children it forked for open connections; resolves once all of them have exited. */
  stop(): Promise<void>;
}

/** PIDs of a process's direct children (Linux ≥ 3.5 with CONFIG_PROC_CHILDREN; empty when it is gone). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter((s) => s.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * A unix socket on the host whose every connection socat carries to `to` (`ip:port`) from inside the network
 * namespace `netns`. The sealed-network rule forbids a host-namespace process to open a socket toward a cluster
 * address; this way the test process speaks only to a file, and the TCP socket toward the cluster is created by a
 * process that lives in the cluster's namespace. `mode=600`: only root (the test) may use the forward.
 */
export async function startUnixForwarder(netns: string, socketPath: string, to: string): Promise<UnixForwarder> {
  // `ip netns exec` execs socat after entering the namespace, so the child's PID is socat's.
  const child = spawn('ip', ['netns', 'exec', netns, 'socat', `UNIX-LISTEN:${socketPath},fork,mode=600,unlink-early`, `TCP:${to}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.on('error', (err) => (stderr += `\n${err.message}`));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // The children serve connections still open and would outlive the listener: they are stopped too, by PID.
    const children = childrenOf(child.pid ?? 0);
    for (const c of children) {
      try {
        process.kill(c, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    child.kill('SIGTERM');
    await exited;
    await eventually(() => {
      const left = children.filter((c) => existsSync(`/proc/${c}`));
      if (left.length > 0) throw new Error(`socat in ${netns}: children [${left.join(', ')}] still run after SIGTERM`);
    }, 5000);
  };
  if (pid === undefined) throw new Error(`socat in ${netns} did not start: ${stderr}`);
  try {
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`socat in ${netns} exited ${child.exitCode}: ${stderr}`);
      if (!existsSync(socketPath)) throw new Error(`socat in ${netns} has not created ${socketPath} yet`);
    }, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { target: `unix:${socketPath}`, pid, stop };
}
