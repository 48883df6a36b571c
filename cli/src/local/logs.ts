import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '@ambit/core';
import type { LocalContext } from './context.ts';

/** Prints (or follows) a pod container's output, from the log file the runtime writes. */
export async function logs(
  ctx: LocalContext,
  namespace: string,
  pod: string,
  container: string | undefined,
  follow: boolean,
): Promise<void> {
  const dir = join(ctx.paths.logDir, namespace, pod);
  if (!existsSync(dir)) throw new AmbitError('NOT_FOUND', `no logs for pod ${namespace}/${pod} (is it on this cluster and started?)`);
  const containers = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => f.slice(0, -4));
  const name = container ?? (containers.length === 1 ? containers[0] : undefined);
  if (name === undefined || !containers.includes(name)) {
    throw new AmbitError('BAD_ARGS', `choose a container with -c: ${containers.join(', ')}`);
  }
  const file = join(dir, `${name}.log`);
  if (!follow) {
    ctx.out.write(readFileSync(file));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tail', ['-n', '+1', '-F', file], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', () => resolve());
  });
}
