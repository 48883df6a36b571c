import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

/**
 * Room for the idle connections (two descriptors each in a TCP proxy): the soft descriptor limit raised to the hard
 * one (raising the hard one needs CAP_SYS_RESOURCE, which a container may lack). The shell execs the program, so the
 * PID stays the program's.
 */
export const RAISED_FD_LIMIT = ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'fd-limit'] as const;

/** The hard descriptor limit the programs run with. */
export function hardFdLimit(): number {
  const m = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null ? 1024 : Number(m[1]);
}

/** A long-running program the bench started inside a pod's network namespace; stopped by its own PID only. */
export interface NetnsProcess {
  readonly pid: number;
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Starts `argv` inside `netns` (`ip netns exec` execs the program itself, so the child's PID is the program's) with
 * its output appended to `logFile`, and resolves once `ready` says it is serving. The program's sockets are made in
 * that namespace by the program, never by this process.
 */
export async function startInNetns(
  name: string,
  netns: string,
  argv: readonly string[],
  logFile: string,
  ready: () => Promise<boolean>,
): Promise<NetnsProcess> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, ...RAISED_FD_LIMIT, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Two sources into one file: neither may end it (the other would then write after its end and throw), the
  // child's exit with both pipes drained does.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('close', () => log.end());
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      resolve();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${argv.join(' ')}`);
  const stop = async (): Promise<void> => {
    if (exited === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`${name} ${exited}; see ${logFile}`);
    if (await ready()) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not become ready in 10 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid, name, stop };
}
