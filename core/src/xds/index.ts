/**
 * xDS for every Ambit component: the delta-xDS client proxies use, and what the controller's server shares with it
 * (the grpc-js service definition, wire shapes, channel settings, clock, backoff).
 */
export {
  createXdsClient,
  xdsType,
  type XdsChange,
  type XdsClient,
  type XdsClientOptions,
  type XdsClientStats,
  type XdsClientTls,
  type XdsTypeSubscription,
} from './client.ts';
// The client's options take these; they live in core proper (every retry loop uses them) and are re-exported here.
export { createBackoff, type BackoffOptions } from '../backoff.ts';
export { systemClock, type Clock, type ClockTimer } from '../clock.ts';
export { clientChannelOptions, serverChannelOptions, XDS_MAX_MESSAGE_BYTES } from './channel-options.ts';
export { aggregatedDiscoveryService, DELTA_AGGREGATED_RESOURCES_PATH, fromStruct, toStruct } from '../proto/load.ts';
export {
  RPC_INVALID_ARGUMENT,
  WILDCARD,
  type AnyWire,
  type DeltaDiscoveryRequestWire,
  type DeltaDiscoveryResponseWire,
  type NodeWire,
  type ResourceWire,
  type RpcStatusWire,
} from '../proto/discovery-wire.ts';
