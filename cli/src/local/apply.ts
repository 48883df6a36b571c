import { loadManifests, manifestFiles } from '@ambit/local';
import { apiRequest } from '../api-client.ts';
import { readyRunner, type LocalContext } from './context.ts';

interface ApplyResult {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly action: string;
}

/**
 * `apply -f` / `delete -f`: every document is parsed and validated here (errors name file:document:field), then
 * the whole batch goes to the runner in one request and is applied in one transaction: all or nothing.
 */
export async function applyPath(ctx: LocalContext, path: string, mode: 'apply' | 'delete'): Promise<void> {
  readyRunner(ctx);
  const objects = loadManifests(manifestFiles(path));
  const results = await apiRequest<ApplyResult[]>(ctx.paths.apiSocket, 'POST', `/ambit/v1/${mode}`, { objects });
  for (const r of results) ctx.out.write(`${r.kind.toLowerCase()}/${r.name} ${r.action}\n`);
}
