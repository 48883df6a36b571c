import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's root: the child's working directory, so its code imports sources as `./core/src/…`. */
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `code`, a TypeScript ES module (through tsx), in a child Node with --expose-gc, as the proxies run, and resolves
 * with its stdout; rejects with its stderr when it fails. `args` reach the child's process.argv.
 */
export function runGcChild(code: string, args: readonly string[] = []): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code, ...args],
      { cwd: REPO },
      (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`))),
    ),
  );
}
