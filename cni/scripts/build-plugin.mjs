#!/usr/bin/env node
// Builds the CNI plugin into bin/:
//   ambit-cni       the executable runtimes start: a small C front end (native/ambit-cni-shim.c, built with `cc`) that
//                   has the node agent run the plugin logic, so a pod start pays milliseconds, not a Node start-up;
//   ambit-cni-node  src/plugin/main.ts bundled into one ESM file that starts with plain `node` (no tsx): what the
//                   front end runs when the agent cannot answer. Offline: esbuild and the C compiler only.
// Usage: node cni/scripts/build-plugin.mjs [--out DIR]
import { chmod, mkdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const cniDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const binDir = outArg > 0 && process.argv[outArg + 1] !== undefined ? resolve(process.argv[outArg + 1]) : join(cniDir, 'bin');
const out = join(binDir, 'ambit-cni-node');
const tmp = `${out}.${process.pid}.tmp`;
const shim = join(binDir, 'ambit-cni');
const shimTmp = `${shim}.${process.pid}.tmp`;

// The plugin runs on every pod start, so it may take from @ambit/core only the entries that load nothing but Node
// built-ins: the package's index also loads pino, prom-client and gRPC, which would multiply start-up time. Any other
// @ambit/core import fails this build, loudly.
const LIGHT_CORE_ENTRIES = new Set(['@ambit/core/errors', '@ambit/core/fields']);
const lightCoreOnly = {
  name: 'light-core-only',
  setup(b) {
    b.onResolve({ filter: /^@ambit\/core(\/|$)/ }, (args) => {
      if (LIGHT_CORE_ENTRIES.has(args.path)) return undefined;
      return { errors: [{ text: `the CNI plugin may import only ${[...LIGHT_CORE_ENTRIES].join(', ')} from core, not ${args.path}` }] };
    });
  },
};

await mkdir(dirname(out), { recursive: true });
await build({
  entryPoints: [join(cniDir, 'src', 'plugin', 'main.ts')],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // The runtime execs the fallback with the kubelet's environment, whose PATH may find an older system node: name the
  // Node that built it (the project's Node 24, see scripts/node-env.sh) instead of `env node`. `yaml` (the kubeconfig
  // reader) is CommonJS and require()s Node's built-ins. It reads its kubeconfig with `yaml` and node:https, not
  // @kubernetes/client-node, whose loading would double the fallback's start-up (cni/README.md).
  banner: {
    js: `#!${process.execPath}\nimport { createRequire as __ambitCreateRequire } from 'node:module'; const require = __ambitCreateRequire(import.meta.url);`,
  },
  plugins: [lightCoreOnly],
  logLevel: 'warning',
  legalComments: 'none',
});
await chmod(tmp, 0o755);
// Rename last: a runtime starting a pod mid-build sees the old plugin or the new one, never half a file.
await rename(tmp, out);
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', shimTmp, join(cniDir, 'native', 'ambit-cni-shim.c')], { stdio: 'inherit' });
await rename(shimTmp, shim);
