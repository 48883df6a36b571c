export { AmbitError, hasCode, errorMessage } from './errors.ts';
export {
  createBackoff,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  type Backoff,
  type BackoffJitter,
  type BackoffOptions,
} from './backoff.ts';
export { systemClock, type Clock, type ClockTimer } from './clock.ts';
export { createLogger, silentLogger, type Logger, type LogOptions } from './log.ts';
export * from './model/types.ts';
export { spiffeId, parseSpiffeId, type SpiffeId } from './model/spiffe.ts';
export { parseCidr } from './model/cidr.ts';
export { ipKey, targetPortFor } from './model/endpoint-port.ts';
export { validateWorkload, validateService, validateAuthorization } from './model/validate.ts';
export * from './fields/index.ts';
