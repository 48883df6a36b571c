export {
  createXdsServer,
  MAX_DEBOUNCE_MS,
  XdsServerError,
  type XdsListen,
  type XdsServer,
  type XdsServerOptions,
  type XdsServerTls,
} from './xds-server.ts';
export type { ConnectionInfo, ConnectionTypeInfo } from './xds-connection.ts';
export { createXdsServerMetrics, type XdsServerMetrics } from './xds-metrics.ts';
export { resourceVersion, type ResourceChanges, type StoredResource } from './resource-store.ts';
export { publishResources } from './publish-resources.ts';
