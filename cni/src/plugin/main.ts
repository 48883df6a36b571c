import { runPlugin } from './plugin.ts';

/**
 * Entry point of the `ambit-cni` executable (bundled to cni/bin/ambit-cni by scripts/build-plugin.mjs, so it starts
 * with plain `node`). The runtime passes the command in CNI_* variables and the network configuration on stdin.
 */
async function readStdin(): Promise<string> {
  // A runtime always pipes stdin; a terminal would wait for input that never comes.
  if (process.stdin.isTTY === true) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const out = await runPlugin({ env: process.env, stdin: await readStdin() });
if (out.stderr !== '') process.stderr.write(out.stderr);
// Exit only once stdout is flushed: a pipe write can be asynchronous, and a cut result is a broken pod.
process.stdout.write(out.stdout, () => process.exit(out.exitCode));
