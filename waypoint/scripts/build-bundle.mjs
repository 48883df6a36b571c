#!/usr/bin/env node
// Bundles the waypoint (src/main.ts and everything it imports from @ambit/core and npm) into build/bundle/waypoint.mjs,
// which starts with plain `node`, as ztunnel's bundle does (ztunnel/scripts/build-bundle.mjs). Running from source
// through tsx costs the loader's memory in every waypoint pod (measured in local mode: ~190 MB RSS at rest from
// source against the 80 MB goal) and a separate esbuild child process.
// The xDS .proto files are copied next to the bundle, where core/src/proto/load.ts looks for them.
// Usage: node waypoint/scripts/build-bundle.mjs   (offline: esbuild only)
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const waypointDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(waypointDir, 'build', 'bundle');
const out = join(outDir, 'waypoint.mjs');
const tmp = `${out}.${process.pid}.tmp`;
const protoDir = join(waypointDir, '..', 'core', 'src', 'proto');

await mkdir(outDir, { recursive: true });
for (const f of await readdir(protoDir)) if (f.endsWith('.proto')) await copyFile(join(protoDir, f), join(outDir, f));
await build({
  entryPoints: [join(waypointDir, 'src', 'main.ts')],
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
// Rename last: a waypoint pod starting mid-build starts the old bundle or the new one, never half a file.
await rename(tmp, out);
