// The waypoint's telemetry: Istio's request and TCP metrics with reporter="waypoint", and the access log.
export { createWaypointTelemetry, type WaypointTelemetryHandle, type WaypointTelemetryOptions } from './telemetry.ts';
export { ISTIO_BUCKETS, REQUEST_LABELS, requestLabels, type RequestLabels } from './request-metrics.ts';
export { logRequest, logTcp } from './access-log.ts';
