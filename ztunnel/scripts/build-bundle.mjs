#!/usr/bin/env node
// Bundles ztunnel (src/main.ts and everything it imports from @ambit/core and npm) into build/bundle/ztunnel.mjs,
// which starts with plain `node`. Running from source through tsx costs ~35 MB of RSS for the loader and a 12 MB
// esbuild child process; a per-node proxy must not carry that (issue 7: ≤ 60 MB at 1000 rps).
// The bundle sits two levels below ztunnel/, as src/native/ does, so the addon's relative path (../../build/Release)
// holds from both; the xDS .proto files are copied next to it, where core/src/proto/load.ts looks for them.
// Usage: node ztunnel/scripts/build-bundle.mjs   (offline: esbuild only)
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ztunnelDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(ztunnelDir, 'build', 'bundle');
const out = join(outDir, 'ztunnel.mjs');
const tmp = `${out}.${process.pid}.tmp`;
const protoDir = join(ztunnelDir, '..', 'core', 'src', 'proto');

await mkdir(outDir, { recursive: true });
for (const f of await readdir(protoDir)) if (f.endsWith('.proto')) await copyFile(join(protoDir, f), join(outDir, f));
await build({
  entryPoints: [join(ztunnelDir, 'src', 'main.ts')],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // CommonJS dependencies (grpc-js, protobufjs, pino) call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __ambitCreateRequire } from 'node:module'; const require = __ambitCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  legalComments: 'none',
});
// Rename last: a ztunnel restarting mid-build starts the old bundle or the new one, never half a file.
await rename(tmp, out);
