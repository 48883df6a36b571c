export { AmbitError, hasCode, errorMessage } from './errors.ts';
export { createLogger, silentLogger, type Logger, type LogOptions } from './log.ts';
