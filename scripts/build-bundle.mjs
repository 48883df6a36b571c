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
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
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

/**
 * `import … from 'node:http'` in an ES module makes Node build the module's ESM facade, which reads every export, and
 * one of them is a lazy getter that loads Node's bundled undici (its 770 KB source, compiled): a bare `node` that
 * imports node:http has ~14 MB more RSS and 2.4 MB more heap than one that require()s it. Our sources' node:http imports
 * are served by require() instead (the banner's), which builds no facade; esbuild's ESM interop copies the exports as
 * getters, so nothing is read until used.
 */
const httpWithoutFacade = {
  name: 'http-without-esm-facade',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === 'import-statement' ? { path: 'node:http', namespace: 'require-http' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'require-http' }, () => ({ contents: "module.exports = require('node:http');", loader: 'js' }));
  },
};

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
  plugins: [httpWithoutFacade],
  logLevel: 'warning',
  legalComments: 'none',
});
// V8 keeps a script's whole source in the heap, one byte per character only when every character fits in Latin-1: one
// '→' in a kept comment made the ztunnel's 2.2 MB bundle a 4.4 MB two-byte string in every proxy (heap snapshot).
// esbuild (charset ascii) escapes such characters in strings, templates and identifiers (a regular expression kept
// its 'µ', which is Latin-1), so what is left is comment text: written as \u{…} it reads the same and the source stays
// one byte per character. Such a character with no comment opening before it on its line stops the build rather
// than being rewritten inside code.
const lines = (await readFile(tmp, 'utf8')).split('\n');
const inCode = lines.findIndex((line) => {
  const at = line.search(/[\u0100-\u{10ffff}]/u);
  const before = line.slice(0, Math.max(at, 0));
  return at >= 0 && !/^\s*\*/.test(line) && !before.includes('//') && !before.includes('/*');
});
if (inCode >= 0) {
  await rm(tmp, { force: true });
  throw new Error(`${component} bundle line ${inCode + 1}: a character beyond Latin-1 outside a comment: ${lines[inCode]?.trim()}`);
}
await writeFile(tmp, lines.map((line) => line.replace(/[\u0100-\u{10ffff}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`)).join('\n'));
// Rename last: a proxy starting mid-build starts the old bundle or the new one, never half a file.
await rename(tmp, out);
