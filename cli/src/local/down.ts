import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupLeftovers } from '@ambit/local';
import { silentLogger } from '@ambit/core';
import { isAlive, readRunnerInfo, type LocalContext } from './context.ts';

/**
 * Stops the cluster: SIGTERM lets the runner stop pods, run CNI DEL and remove its namespaces; whatever is still
 * there afterwards (the runner died, or was killed earlier) is removed by prefix and pid file.
 */
export async function down(ctx: LocalContext, timeoutMs = 20_000): Promise<void> {
  const info = readRunnerInfo(ctx);
  if (info !== undefined && isAlive(info.pid)) {
    process.kill(info.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (isAlive(info.pid) && Date.now() < deadline) await sleep(50);
  }
  await cleanupLeftovers({ prefix: ctx.paths.prefix, stateDir: ctx.paths.stateDir, clusterName: ctx.paths.name, log: silentLogger() });
  // The runner log outlives a failed `up` (so its error can be read) but not a deliberate `down`.
  rmSync(ctx.paths.runnerLog, { force: true });
  rmSync(ctx.paths.stateDir, { recursive: true, force: true });
  ctx.out.write(`local cluster "${ctx.paths.name}" is down\n`);
}
