export * from './types.ts';
export { encodeRouteSet, decodeRouteSet } from './codec.ts';
export { selectRoute, pickBackend, rewritePath, modifyHeaders, compileFullMatch, type RequestFacts, type RouteChoice } from './match.ts';
