import { cpus, release } from 'node:os';

/** The machine a benchmark ran on, as every results file records it (performance.md: Node version, nproc, kernel). */
export interface BenchEnvironment {
  readonly node: string;
  readonly nproc: number;
  readonly kernel: string;
  readonly cpu: string;
}

export function benchEnvironment(): BenchEnvironment {
  return { node: process.version, nproc: cpus().length, kernel: release(), cpu: cpus()[0]?.model ?? 'unknown' };
}
