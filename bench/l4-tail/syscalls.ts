import { spawn } from 'node:child_process';

/**
 * Counts a process's system calls (every thread) while `during` runs, with `perf trace -s` (in-kernel tracepoints:
 * far less overhead than strace, though the counted process still slows a little). Returns calls per syscall name.
 */
export async function countSyscalls(pid: number, during: () => Promise<void>): Promise<Record<string, number>> {
  const child = spawn('perf', ['trace', '-s', '-p', String(pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // perf needs a moment to attach its tracepoints before the load starts.
  await new Promise((r) => setTimeout(r, 1000));
  try {
    await during();
  } finally {
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  // The summary has, per thread, lines "   <syscall>   <calls>   <errors>   <total ms> …".
  const calls: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^\s+([a-z_0-9]+)\s+(\d+)\s+\d+\s+[\d.]+\s/.exec(line);
    if (m !== null && m[1] !== undefined) calls[m[1]] = (calls[m[1]] ?? 0) + Number(m[2]);
  }
  if (Object.keys(calls).length === 0) throw new Error(`perf trace -s -p ${pid} printed no summary:\n${out.slice(0, 2000)}`);
  return calls;
}
