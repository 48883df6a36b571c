export * from './types.ts';
export { encodeRouteSet, decodeRouteSet } from './codec.ts';
