// HBONE: HTTP/2 CONNECT over mutual TLS with SPIFFE certificates (reference istio-ambient.md §1).
// Both ends take injected sockets, so the ztunnel can create them inside pod network namespaces.
export { HboneError, rstCodeName, statusError } from './errors.ts';
export {
  createHbonePool,
  type HboneOpenRequest,
  type HbonePool,
  type HbonePoolOptions,
  type HbonePoolStats,
  type NextHop,
} from './pool.ts';
export {
  createHboneServer,
  type HboneAuthorizeRequest,
  type HboneDecision,
  type HboneOpenTunnel,
  type HboneServer,
  type HboneRelayOptions,
  type HboneServerOptions,
  type HboneTakeDecision,
  type HboneTerminateOptions,
  type HboneTunnelMeta,
  type HboneTunnelRecord,
} from './server.ts';
export {
  clientTlsOptions,
  HBONE_ALPN,
  HBONE_CIPHERS,
  serverContextOptions,
  SERVER_SOCKET_TLS,
  uriSansOf,
  verifyClientIdentity,
  verifyServerIdentity,
  type WorkloadCert,
} from './tls-config.ts';
export { pump, PUMP_MAX_BUFFERED, type ByteCount } from './pump.ts';
export { buffersOnly, formatHostPort, parseIpAuthority, relay, unmapIp, type RelayCounts, type RelayResult } from './h2-util.ts';
