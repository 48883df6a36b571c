import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '@ambit/core';

/**
 * The PATH every command of the local runtime runs with. A fixed value rather than the caller's environment, so a
 * runner started from a shell with an odd PATH still finds `ip`, `nft` and the CNI plugins' helpers (STYLE rule 2:
 * only main.ts reads process.env).
 */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A command that exited non-zero, was killed, or could not start. */
export class CommandFailedError extends AmbitError {
  readonly argv: readonly string[];
  /** Exit code, or null when the command was killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number | null, stdout: string, stderr: string, detail: string, cause?: unknown) {
    super('COMMAND_FAILED', `command failed (${detail}): ${formatArgv(argv)}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`, {
      cause,
    });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed; default: stdin is empty. */
  readonly input?: string;
  /** The command's whole environment; default `{ PATH: SYSTEM_PATH, LANG: 'C' }` (C locale: stable error text). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kills the command (SIGKILL) after this long; default 60 000 ms. */
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const DEFAULT_ENV: Readonly<Record<string, string>> = { PATH: SYSTEM_PATH, LANG: 'C' };

/**
 * Runs `argv` (no shell) and resolves with its outcome whatever the exit code; rejects only when it cannot start.
 * For callers that interpret a non-zero exit themselves (CNI plugins print their error JSON and exit 1).
 */
export function runRaw(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new AmbitError('COMMAND_FAILED', 'BUG: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? DEFAULT_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer rather than spawn's `timeout`: that one is not cleared when the command never starts, and would
    // hold the event loop open for the whole timeout.
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandFailedError(argv, null, '', '', e.message, e));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A command that exits without reading its stdin makes the write fail with EPIPE; its exit status says more.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `argv` (no shell); rejects with a CommandFailedError (code `COMMAND_FAILED`) unless it exits 0. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runRaw(argv, options);
  if (result.exitCode !== 0) {
    const detail = result.signal !== null ? `killed by ${result.signal}` : `exit code ${String(result.exitCode)}`;
    throw new CommandFailedError(argv, result.exitCode, result.stdout, result.stderr, detail);
  }
  return result;
}

/** `ip ARGV…` in the current (host) namespace: only for namespace management, never for addresses or routes. */
export function ip(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(['ip', ...argv], options);
}

/** `ip -n NS ARGV…`: an `ip` command applied inside namespace `ns` (cheaper than `ip netns exec NS ip …`). */
export function ipIn(ns: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(['ip', '-n', ns, ...argv], options);
}

/** `ip netns exec NS ARGV…`: runs a command inside network namespace `ns`. */
export function ipNetns(ns: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], options);
}

/** Applies an nftables script inside `ns`; `nft -f` applies a whole script as one transaction, or nothing. */
export function nft(ns: string, script: string): Promise<RunResult> {
  return ipNetns(ns, ['nft', '-f', '-'], { input: script });
}

/** Finds `name` the way execvp would, in the directories of `path`; a name with a slash is checked as given. */
export function resolveExecutable(name: string, path: string = SYSTEM_PATH): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : path
        .split(':')
        .filter((d) => d !== '')
        .map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here (or not executable): try the next directory, as execvp does.
    }
  }
  return undefined;
}

function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}
