export { AmbitError, hasCode, errorMessage } from './errors.ts';
export { createLogger, silentLogger, type Logger, type LogOptions } from './log.ts';
export * from './model/types.ts';
export { spiffeId, parseSpiffeId, type SpiffeId } from './model/spiffe.ts';
export { parseCidr } from './model/cidr.ts';
export { validateWorkload, validateService, validateAuthorization } from './model/validate.ts';
export * from './fields/index.ts';
