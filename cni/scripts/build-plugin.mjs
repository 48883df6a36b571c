#!/usr/bin/env node
// Bundles the CNI plugin (src/plugin/main.ts) into one ESM file, bin/ambit-cni, that starts with plain `node`: the
// plugin runs on every pod start, and loading tsx would cost more than the plugin's own work. Offline: esbuild only.
// Usage: node cni/scripts/build-plugin.mjs [--out PATH]
import { chmod, mkdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const cniDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 && process.argv[outArg + 1] !== undefined ? resolve(process.argv[outArg + 1]) : join(cniDir, 'bin', 'ambit-cni');
const tmp = `${out}.${process.pid}.tmp`;

await mkdir(dirname(out), { recursive: true });
await build({
  entryPoints: [join(cniDir, 'src', 'plugin', 'main.ts')],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  // The plugin needs only AmbitError from @ambit/core; the package's index also loads pino, prom-client and gRPC,
  // which would multiply start-up time. Anything else imported from @ambit/core fails this build, loudly.
  alias: { '@ambit/core': join(cniDir, '..', 'core', 'src', 'errors.ts') },
  logLevel: 'warning',
  legalComments: 'none',
});
await chmod(tmp, 0o755);
// Rename last: a runtime starting a pod mid-build sees the old plugin or the new one, never half a file.
await rename(tmp, out);
