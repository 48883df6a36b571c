import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  /** Minimum level; default `info`. */
  readonly level?: string;
  /** File descriptor or path to write JSON lines to; default stdout (fd 1). */
  readonly destination?: number | string;
  /** Asynchronous writes (data-plane loggers, STYLE rule 15); default false so start-up errors are not lost. */
  readonly async?: boolean;
}

/** Creates the root logger of a process; modules take `log.child({ component })` from it. */
export function createLogger(name: string, options: LogOptions = {}): Logger {
  const opts: LoggerOptions = { name, level: options.level ?? 'info' };
  const dest = pino.destination({ dest: options.destination ?? 1, sync: !(options.async ?? false), mkdir: true });
  return pino(opts, dest);
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
