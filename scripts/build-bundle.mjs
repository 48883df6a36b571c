#!/usr/bin/env node
// Bundles a proxy (ztunnel or the waypoint: its src/main.ts and everything it imports from @ambit/core and npm) into
// <component>/build/bundle/<component>.mjs, which starts with plain `node`. Running from source through tsx costs the
// loader's memory in every proxy (~35 MB RSS for ztunnel; ~190 MB at rest for a waypoint pod measured in local mode)
// and an esbuild child process; a per-node proxy and a per-namespace waypoint must not carry that.
// The bundle sits two levels below the component, as ztunnel's src/native/ does, so the addon's relative path
// (../../build/Release) holds from both; the xDS .proto files are copied next to it, where core/src/proto/load.ts
// looks for them.
// Usage: node scripts/build-bundle.mjs ztunnel|waypoint   (offline: esbuild only)
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const COMPONENTS = ['ztunnel', 'waypoint'];
const component = process.argv[2];
if (!COMPONENTS.includes(component ?? '')) {
  process.stderr.write(`usage: node scripts/build-bundle.mjs ${COMPONENTS.join('|')}\n`);
  process.exit(2);
}
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const componentDir = join(repo, component);
const outDir = join(componentDir, 'build', 'bundle');
const out = join(outDir, `${component}.mjs`);
const tmp = `${out}.${process.pid}.tmp`;
const protoDir = join(repo, 'core', 'src', 'proto');

await mkdir(outDir, { recursive: true });
for (const f of await readdir(protoDir)) if (f.endsWith('.proto')) await copyFile(join(protoDir, f), join(outDir, f));
await build({
  entryPoints: [join(componentDir, 'src', 'main.ts')],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // CommonJS dependencies (grpc-js, protobufjs, pino, undici) call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __ambitCreateRequire } from 'node:module'; const require = __ambitCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  legalComments: 'none',
});
// Rename last: a proxy starting mid-build starts the old bundle or the new one, never half a file.
await rename(tmp, out);
