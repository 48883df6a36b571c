#!/usr/bin/env node
// Bundles a component (its entry and everything it imports from @ambit/core and npm) into
// <package>/build/bundle/<component>.mjs, which starts with plain `node`. Running from source through tsx costs the
// loader's memory in every proxy (~35 MB RSS for ztunnel; ~190 MB at rest for a waypoint pod measured in local mode)
// and an esbuild child process; a per-node proxy and a per-namespace waypoint must not carry that. The controller and
// the node agent are bundled too: through tsx each compiled itself cold in every new pod (its /tmp, where tsx keeps
// its cache, is an emptyDir), 1.5–2 s of CPU per start instead of ~0.4 s, and the image needs no tsx or node_modules.
// The bundle sits two levels below its package's root, as the entry sits below src/ (ztunnel's src/native/ and the
// node agent's src/agent/ resolve ../../build/Release and ../../bin from there, and from the bundle alike); the xDS
// .proto files are copied next to it, where core/src/proto/load.ts looks for them.
// Usage: node scripts/build-bundle.mjs ztunnel|waypoint|controller|node-agent   (offline: esbuild only)
import { copyFile, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Component → its package directory and entry (deploy/image/ambit runs `<package>/build/bundle/<component>.mjs`). */
const COMPONENTS = {
  ztunnel: { pkg: 'ztunnel', entry: 'src/main.ts' },
  waypoint: { pkg: 'waypoint', entry: 'src/main.ts' },
  controller: { pkg: 'controller', entry: 'src/main.ts' },
  'node-agent': { pkg: 'cni', entry: 'src/agent/main.ts' },
};
const component = process.argv[2] ?? '';
if (!Object.hasOwn(COMPONENTS, component)) {
  process.stderr.write(`usage: node scripts/build-bundle.mjs ${Object.keys(COMPONENTS).join('|')}\n`);
  process.exit(2);
}
const { pkg, entry } = COMPONENTS[component];
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packageDir = join(repo, pkg);
const outDir = join(packageDir, 'build', 'bundle');
const out = join(outDir, `${component}.mjs`);
const tmp = `${out}.${process.pid}.tmp`;
const protoDir = join(repo, 'core', 'src', 'proto');

await mkdir(outDir, { recursive: true });
for (const f of await readdir(protoDir)) if (f.endsWith('.proto')) await copyFile(join(protoDir, f), join(outDir, f));
await build({
  entryPoints: [join(packageDir, entry)],
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
