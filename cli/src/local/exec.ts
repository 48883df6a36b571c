import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { AmbitError } from '@ambit/core';
import { apiRequest } from '../api-client.ts';
import { readyRunner, type LocalContext } from './context.ts';

/** Runs argv inside a pod's network namespace; resolves with the exit code to leave with. */
export async function execInPod(ctx: LocalContext, namespace: string, pod: string, argv: readonly string[]): Promise<number> {
  readyRunner(ctx);
  const { netns } = await apiRequest<{ netns: string }>(ctx.paths.apiSocket, 'POST', '/ambit/v1/pod-netns', { namespace, name: pod });
  return runIn(netns, argv);
}

/** Runs argv inside a node's network namespace (tcpdump on the node link, routes, nft rules). */
export async function execInNode(ctx: LocalContext, node: string, argv: readonly string[]): Promise<number> {
  const info = readyRunner(ctx);
  const n = info.nodes?.find((x) => x.name === node);
  if (n === undefined) {
    throw new AmbitError('NOT_FOUND', `node "${node}" not found (nodes: ${(info.nodes ?? []).map((x) => x.name).join(', ')})`);
  }
  return runIn(n.netns, argv);
}

/**
 * `ip netns exec` execs the command after setns, so stdio and the exit status are the command's own. A command
 * killed by a signal exits 128+signal, as a shell reports it.
 */
function runIn(netns: string, argv: readonly string[]): Promise<number> {
  if (argv.length === 0) throw new AmbitError('BAD_ARGS', 'no command given after --');
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== null) resolve(128 + (constants.signals[signal] ?? 0));
      else resolve(code ?? 1);
    });
  });
}
