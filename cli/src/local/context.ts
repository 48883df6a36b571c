import { existsSync, readFileSync } from 'node:fs';
import { clusterPaths, type ClusterPaths, type RunnerInfo } from '@ambit/local';
import { AmbitError } from '@ambit/core';

/** What every `ambitctl local` command gets from main.ts: which cluster, where its state lives. */
export interface LocalContext {
  readonly paths: ClusterPaths;
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

export function createContext(name: string, stateRoot: string): LocalContext {
  return { paths: clusterPaths(name, stateRoot), out: process.stdout, err: process.stderr };
}

/** The runner's info when the cluster is up and ready; a clear error otherwise. */
export function readyRunner(ctx: LocalContext): RunnerInfo {
  const info = readRunnerInfo(ctx);
  if (info === undefined || !isAlive(info.pid)) {
    throw new AmbitError('CLUSTER_DOWN', `local cluster "${ctx.paths.name}" is not running (start it with \`ambitctl local up\`)`);
  }
  if (info.state !== 'ready') throw new AmbitError('CLUSTER_NOT_READY', `local cluster "${ctx.paths.name}" is ${info.state}`);
  return info;
}

export function readRunnerInfo(ctx: LocalContext): RunnerInfo | undefined {
  if (!existsSync(ctx.paths.runnerInfo)) return undefined;
  try {
    return JSON.parse(readFileSync(ctx.paths.runnerInfo, 'utf8')) as RunnerInfo;
  } catch {
    return undefined; // being written; callers poll
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
