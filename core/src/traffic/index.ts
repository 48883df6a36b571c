// What a waypoint applies to traffic to one Service beyond routing (DestinationRule, retry budget, rate limit).
export * from './types.ts';
export { decodeServiceTraffic, encodeServiceTraffic } from './codec.ts';
